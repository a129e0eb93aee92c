package io.bistream.core.stream;

/**
 * How a sequence is streamed through a bidirectional model (docs/architecture.md, "Streaming
 * modes").
 *
 * @param mode exact, lookahead, stateful or context
 * @param chunk C: the chunk length of lookahead, stateful and context (ignored by exact)
 * @param lookahead R: future steps a lookahead or context chunk's window reaches past the chunk (0
 *     allowed)
 * @param maxSequenceSteps the most steps exact mode buffers for one sequence
 * @param overflow what exact mode does beyond {@code maxSequenceSteps}
 * @param leftContext L: past steps a context chunk's window reaches before the chunk (0 allowed;
 *     context mode only)
 */
public record StreamConfig(
    Mode mode, int chunk, int lookahead, long maxSequenceSteps, Overflow overflow, int leftContext)
    implements java.io.Serializable {

  /** The four streaming semantics. */
  public enum Mode {
    /**
     * Equals offline: the layers before the first bidirectional one run as chunks arrive, that
     * layer and the rest when the sequence ends (a last-step one's forward half as chunks arrive).
     */
    EXACT,
    /** LC-BLSTM (Zhang et al. 2016): each chunk's backward pass sees R future steps. */
    LOOKAHEAD,
    /** Keras {@code stateful=True}: every chunk is one batch; all directions carry state. */
    STATEFUL,
    /**
     * Context-sensitive chunks (Chen &amp; Huo 2015; Kaldi nnet3 chunk width with extra left and
     * right context): each chunk is computed over L past and R future steps from zero states;
     * nothing is carried between chunks.
     */
    CONTEXT;

    private final String userName = name().toLowerCase(java.util.Locale.ROOT);

    /** The name users type and read: {@code exact}, {@code lookahead}, {@code stateful}, ... */
    public String userName() {
      return userName;
    }

    /** The {@link #userName}: whatever shows a mode to a user shows this. */
    @Override
    public String toString() {
      return userName();
    }

    /** Every mode's {@link #userName}, in declaration order. */
    public static java.util.List<String> userNames() {
      return java.util.Arrays.stream(values()).map(Mode::userName).toList();
    }

    /**
     * The mode a user named (case-insensitive).
     *
     * @throws IllegalArgumentException naming what was found and the modes there are
     */
    public static Mode named(String name) {
      for (Mode m : values()) {
        if (m.userName().equalsIgnoreCase(name)) {
          return m;
        }
      }
      throw new IllegalArgumentException(
          "expected a streaming mode, one of " + userNames() + "; found '" + name + "'");
    }
  }

  /** Exact mode's policy when a sequence exceeds {@code maxSequenceSteps}. */
  public enum Overflow {
    /** Fail the sequence with {@link SequenceTooLongException}; its state is dropped. */
    REJECT,
    /** Continue the sequence in lookahead mode (C, R of this config); outputs are marked. */
    DEGRADE_TO_LOOKAHEAD
  }

  public StreamConfig {
    if (mode == null) {
      throw new IllegalArgumentException("a mode is required, one of " + Mode.userNames());
    }
    if (chunk < 1) {
      throw new IllegalArgumentException("chunk must be at least 1 step, found " + chunk);
    }
    if (lookahead < 0) {
      throw new IllegalArgumentException("lookahead must be 0 or more steps, found " + lookahead);
    }
    if (maxSequenceSteps < 1) {
      throw new IllegalArgumentException(
          "max-sequence-steps must be at least 1, found " + maxSequenceSteps);
    }
    if (overflow == null) {
      overflow = Overflow.REJECT;
    }
    if (leftContext < 0) {
      throw new IllegalArgumentException(
          "left-context must be 0 or more steps, found " + leftContext);
    }
    if (leftContext > 0 && mode != Mode.CONTEXT) {
      throw new IllegalArgumentException(
          "left-context applies to context mode only; found left-context "
              + leftContext
              + " with mode "
              + mode.userName());
    }
  }

  /** A config without left context: every mode but context. */
  public StreamConfig(
      Mode mode, int chunk, int lookahead, long maxSequenceSteps, Overflow overflow) {
    this(mode, chunk, lookahead, maxSequenceSteps, overflow, 0);
  }

  public static StreamConfig exact() {
    return new StreamConfig(Mode.EXACT, 64, 0, 1_000_000, Overflow.REJECT);
  }

  public static StreamConfig lookahead(int chunk, int lookahead) {
    return new StreamConfig(Mode.LOOKAHEAD, chunk, lookahead, 1_000_000, Overflow.REJECT);
  }

  public static StreamConfig stateful(int chunk) {
    return new StreamConfig(Mode.STATEFUL, chunk, 0, 1_000_000, Overflow.REJECT);
  }

  /** Context mode: chunks of C steps, each computed over L steps before and R steps after it. */
  public static StreamConfig context(int leftContext, int chunk, int rightContext) {
    return new StreamConfig(
        Mode.CONTEXT, chunk, rightContext, 1_000_000, Overflow.REJECT, leftContext);
  }
}
