/**
 * The streaming engine: bidirectional models over sequences that arrive chunk by chunk, in exact,
 * lookahead (LC-BLSTM, Zhang et al. 2016) and Keras-stateful modes. No Flink here: the Flink job
 * holds {@link io.bistream.core.stream.SequenceState} snapshots in keyed state.
 */
package io.bistream.core.stream;
