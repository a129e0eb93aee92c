package io.bistream.core.stream;

/** An exact-mode sequence grew beyond {@code max-sequence-steps} under the REJECT policy. */
public class SequenceTooLongException extends RuntimeException {

  public SequenceTooLongException(long steps, long max) {
    super(
        "sequence has "
            + steps
            + " steps, more than max-sequence-steps "
            + max
            + " that exact mode buffers; raise the limit, or use lookahead mode or the"
            + " degrade-to-lookahead policy");
  }
}
