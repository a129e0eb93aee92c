package io.bistream.core.stream;

/**
 * How a sequence is streamed through a bidirectional model (DESIGN.md §4).
 *
 * @param mode exact, lookahead or stateful
 * @param chunk C: the chunk length of lookahead and stateful (ignored by exact)
 * @param lookahead R: future steps the backward pass of a lookahead chunk sees (0 allowed)
 * @param maxSequenceSteps the most steps exact mode buffers for one sequence
 * @param overflow what exact mode does beyond {@code maxSequenceSteps}
 */
public record StreamConfig(
    Mode mode, int chunk, int lookahead, long maxSequenceSteps, Overflow overflow)
    implements java.io.Serializable {

  /** The three streaming semantics. */
  public enum Mode {
    /** Equals offline: forward passes as chunks arrive, backward passes when the sequence ends. */
    EXACT,
    /** LC-BLSTM (Zhang et al. 2016): each chunk's backward pass sees R future steps. */
    LOOKAHEAD,
    /** Keras {@code stateful=True}: every chunk is one batch; all directions carry state. */
    STATEFUL
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
      throw new IllegalArgumentException("mode is required: exact, lookahead or stateful");
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
}
