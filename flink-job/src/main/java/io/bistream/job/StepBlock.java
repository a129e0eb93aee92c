package io.bistream.job;

import io.bistream.job.records.JobSerializer;
import java.io.IOException;
import java.util.List;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/**
 * Consecutive steps exact mode added to a sequence's buffers, one entry of the sequence's
 * append-only exact-blocks map state or its record's tail (EngineCalls#append): the input rows of
 * the first bidirectional stage ({@code in}, rows of its width), their mask (one value per step),
 * that stage's forward outputs ({@code fwd}: only in state of format version 6 and before, which
 * ran that half as steps arrived; empty since), and the raw steps kept for a degrade to lookahead
 * ({@code raw}; empty unless {@code --overflow degrade}). The blocks of a sequence, in order, then
 * its tail, are its whole buffers; they are read once, when it ends.
 */
record StepBlock(float[] in, float[] mask, float[] fwd, float[] raw) {

  static final StepBlock EMPTY =
      new StepBlock(new float[0], new float[0], new float[0], new float[0]);

  boolean isEmpty() {
    return in.length == 0 && mask.length == 0 && fwd.length == 0 && raw.length == 0;
  }

  /** The steps it holds: one mask value each. */
  int steps() {
    return mask.length;
  }

  /** The bytes of its values. */
  long bytes() {
    return (long) Float.BYTES * (in.length + mask.length + fwd.length + raw.length);
  }

  /** The blocks one after the other. */
  static StepBlock concat(List<StepBlock> blocks) {
    if (blocks.size() == 1) {
      return blocks.get(0);
    }
    int in = 0;
    int mask = 0;
    int fwd = 0;
    int raw = 0;
    for (StepBlock b : blocks) {
      in += b.in.length;
      mask += b.mask.length;
      fwd += b.fwd.length;
      raw += b.raw.length;
    }
    StepBlock c = new StepBlock(new float[in], new float[mask], new float[fwd], new float[raw]);
    in = 0;
    mask = 0;
    fwd = 0;
    raw = 0;
    for (StepBlock b : blocks) {
      System.arraycopy(b.in, 0, c.in, in, b.in.length);
      System.arraycopy(b.mask, 0, c.mask, mask, b.mask.length);
      System.arraycopy(b.fwd, 0, c.fwd, fwd, b.fwd.length);
      System.arraycopy(b.raw, 0, c.raw, raw, b.raw.length);
      in += b.in.length;
      mask += b.mask.length;
      fwd += b.fwd.length;
      raw += b.raw.length;
    }
    return c;
  }

  /** The four arrays, length-prefixed; format version 1. */
  public static final class Serializer extends JobSerializer<StepBlock> {

    private static final long serialVersionUID = 1L;

    @Override
    public boolean isImmutableType() {
      return true; // never changed once written
    }

    @Override
    public StepBlock createInstance() {
      return EMPTY;
    }

    @Override
    public StepBlock copy(StepBlock from) {
      return from;
    }

    @Override
    public void serialize(StepBlock b, DataOutputView out) throws IOException {
      writeFloats(b.in, out);
      writeFloats(b.mask, out);
      writeFloats(b.fwd, out);
      writeFloats(b.raw, out);
    }

    @Override
    public StepBlock deserialize(DataInputView in) throws IOException {
      return new StepBlock(readFloats(in), readFloats(in), readFloats(in), readFloats(in));
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Serializer;
    }

    @Override
    public int hashCode() {
      return Serializer.class.hashCode();
    }

    @Override
    public TypeSerializerSnapshot<StepBlock> snapshotConfiguration() {
      return new Snapshot();
    }
  }

  /** Version 1 of the block format. */
  public static final class Snapshot extends VersionedSnapshot<StepBlock> {
    public Snapshot() {
      super(1);
    }

    @Override
    int current() {
      return 1;
    }

    @Override
    TypeSerializer<StepBlock> serializer(int version) {
      return new Serializer();
    }
  }
}
