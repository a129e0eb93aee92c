package io.bistream.job;

import io.bistream.core.stream.StreamConfig;
import io.bistream.job.records.JobSerializer;
import java.io.IOException;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/**
 * Writes a {@link SequenceRecord} field by field, in a format with a version that its {@link
 * Snapshot} keeps in every checkpoint and savepoint: a restore reads state in the format it was
 * written in and Flink migrates it to the current one (docs/operations.md, "State").
 *
 * <ul>
 *   <li>Version 1: the tombstone or the open sequence's fields.
 *   <li>Version 2: adds {@code lastSeenAt} after them (the idle timer is registered once and checks
 *       it when it fires).
 *   <li>Version 3: adds {@code idleTimeoutMs} after it (a sequence's own idle timeout, 0 for the
 *       job's: what state of versions 1 and 2 means). Tombstones are unchanged; their {@code why}
 *       may now also be {@code flush}.
 *   <li>Version 4: adds {@code modelVersion} after it, the model version the sequence is pinned to
 *       (docs/operations.md, "Model upgrades"); state of versions 1 to 3 reads as null: the job's
 *       {@code --model-version}, the only model there was.
 *   <li>Version 5: adds {@code startedAt} after it, when the sequence's first record was taken in
 *       (its age, for {@code ./bistream state}); state of versions 1 to 4 reads as 0: not kept.
 *   <li>Version 6: adds {@code tail} after it, exact mode's latest steps kept here until they make
 *       a block of the exact-blocks map; state of versions 1 to 5 reads as null: every step in the
 *       map.
 *   <li>Version 7: no new field. Exact mode buffers the first bidirectional layer's input rows only
 *       and runs its forward half when the sequence ends (docs/architecture.md, "Why it is built
 *       this way"); state of versions 1 to 6 holds forward outputs for the steps taken in before,
 *       and runs on from them. A job that reads only 1..6 would take state of version 7 for such
 *       buffers and fail or compute wrong outputs: it refuses it instead.
 * </ul>
 *
 * To add a field: append it, raise {@link #CURRENT}, read it only when {@code version} is at least
 * the new one (and give older state a value that means the same as before), add the version's line
 * above and a case to {@code SequenceRecordSerializerTest}.
 */
public final class SequenceRecordSerializer extends JobSerializer<SequenceRecord> {

  private static final long serialVersionUID = 1L;

  /** The format this version of the job writes. */
  static final int CURRENT = 7;

  private static final StepBlock.Serializer BLOCK = new StepBlock.Serializer();
  private static final byte OPEN = 0;
  private static final byte ENDED = 1;

  private final int version;

  public SequenceRecordSerializer() {
    this(CURRENT);
  }

  /** A serializer of format {@code version}: reads (and writes) state of that version. */
  SequenceRecordSerializer(int version) {
    if (version < 1 || version > CURRENT) {
      throw new IllegalArgumentException(
          "sequence state format version " + version + " is unknown; this job reads 1.." + CURRENT);
    }
    this.version = version;
  }

  int version() {
    return version;
  }

  @Override
  public boolean isImmutableType() {
    return false;
  }

  @Override
  public SequenceRecord createInstance() {
    return new SequenceRecord();
  }

  @Override
  public SequenceRecord copy(SequenceRecord from) {
    return from.copy();
  }

  @Override
  public void serialize(SequenceRecord s, DataOutputView out) throws IOException {
    if (s.ended) {
      out.writeByte(ENDED);
      out.writeUTF(s.why == null ? "" : s.why.code());
      out.writeLong(s.endedSteps);
      out.writeLong(s.retainUntil);
      return;
    }
    out.writeByte(OPEN);
    out.writeBoolean(s.config != null);
    if (s.config != null) {
      StreamConfig c = s.config;
      out.writeUTF(c.mode().name());
      out.writeInt(c.chunk());
      out.writeInt(c.lookahead());
      out.writeLong(c.maxSequenceSteps());
      out.writeUTF(c.overflow().name());
      out.writeInt(c.leftContext());
    }
    out.writeLong(s.nextT);
    out.writeLong(s.endAt);
    writeInts(s.recent, out);
    out.writeLong(s.recentFrom);
    out.writeInt(s.bufferedSteps);
    out.writeInt(s.partition);
    out.writeLong(s.lastTimestamp);
    out.writeLong(s.lastSeenTimestamp);
    out.writeLong(s.reorderSince);
    out.writeLong(s.idleTimer);
    out.writeLong(s.reorderTimer);
    out.writeLong(s.received);
    out.writeLong(s.emitted);
    out.writeLong(s.chunkStart);
    out.writeLong(s.pooledSteps);
    out.writeBoolean(s.degraded);
    writeFloats(s.pending, s.pendingLength, out);
    writeFloats(s.candidate, out);
    writeFloats(s.firstBackward, out);
    writeStages(s.forward, out);
    writeStages(s.backward, out);
    writeFloats(s.pool, out);
    if (version >= 2) {
      out.writeLong(s.lastSeenAt);
    }
    if (version >= 3) {
      out.writeLong(s.idleTimeoutMs);
    }
    if (version >= 4) {
      out.writeBoolean(s.modelVersion != null);
      if (s.modelVersion != null) {
        out.writeUTF(s.modelVersion);
      }
    }
    if (version >= 5) {
      out.writeLong(s.startedAt);
    }
    if (version >= 6) {
      out.writeBoolean(s.tail != null);
      if (s.tail != null) {
        BLOCK.serialize(s.tail, out); // in the block format of version 6's time, version 1
      }
    }
  }

  @Override
  public SequenceRecord deserialize(DataInputView in) throws IOException {
    SequenceRecord s = new SequenceRecord();
    byte kind = in.readByte();
    if (kind == ENDED) {
      s.ended = true;
      String why = in.readUTF();
      s.why = why.isEmpty() ? null : Tombstone.Why.of(why);
      s.endedSteps = in.readLong();
      s.retainUntil = in.readLong();
      return s;
    }
    if (kind != OPEN) {
      throw new IOException(
          "sequence state: expected a record kind 0 (open) or 1 (ended), found "
              + kind
              + " (format version "
              + version
              + ")");
    }
    if (in.readBoolean()) {
      s.config =
          new StreamConfig(
              StreamConfig.Mode.valueOf(in.readUTF()),
              in.readInt(),
              in.readInt(),
              in.readLong(),
              StreamConfig.Overflow.valueOf(in.readUTF()),
              in.readInt());
    }
    s.nextT = in.readLong();
    s.endAt = in.readLong();
    s.recent = readInts(in);
    s.recentFrom = in.readLong();
    s.bufferedSteps = in.readInt();
    s.partition = in.readInt();
    s.lastTimestamp = in.readLong();
    s.lastSeenTimestamp = in.readLong();
    s.reorderSince = in.readLong();
    s.idleTimer = in.readLong();
    s.reorderTimer = in.readLong();
    s.received = in.readLong();
    s.emitted = in.readLong();
    s.chunkStart = in.readLong();
    s.pooledSteps = in.readLong();
    s.degraded = in.readBoolean();
    s.pending = readFloats(in);
    s.candidate = readFloats(in);
    s.firstBackward = readFloats(in);
    s.forward = readStages(in);
    s.backward = readStages(in);
    s.pool = readFloats(in);
    s.pendingLength = s.pending.length;
    // Version 1 did not keep it: 0 leaves the idle decision to the input's own time alone.
    s.lastSeenAt = version >= 2 ? in.readLong() : 0;
    // Before version 3 every sequence had the job's idle timeout.
    s.idleTimeoutMs = version >= 3 ? in.readLong() : 0;
    // Before version 4 every sequence ran on the job's --model.
    s.modelVersion = version >= 4 && in.readBoolean() ? in.readUTF() : null;
    s.startedAt = version >= 5 ? in.readLong() : 0;
    // Before version 6 every step of exact mode was in the exact-blocks map.
    if (version >= 6 && in.readBoolean()) {
      s.tail = BLOCK.deserialize(in);
    }
    return s;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof SequenceRecordSerializer other && other.version == version;
  }

  @Override
  public int hashCode() {
    return Integer.hashCode(version);
  }

  @Override
  public TypeSerializerSnapshot<SequenceRecord> snapshotConfiguration() {
    return new Snapshot(version);
  }

  // ------------------------------------------------------------------ arrays

  private static void writeInts(int[] a, DataOutputView out) throws IOException {
    if (a == null) {
      out.writeInt(-1);
      return;
    }
    out.writeInt(a.length);
    for (int v : a) {
      out.writeInt(v);
    }
  }

  private static int[] readInts(DataInputView in) throws IOException {
    int n = in.readInt();
    if (n < 0) {
      return null;
    }
    int[] a = new int[n];
    for (int i = 0; i < n; i++) {
      a[i] = in.readInt();
    }
    return a;
  }

  private static void writeStages(float[][] a, DataOutputView out) throws IOException {
    out.writeInt(a.length);
    for (float[] s : a) {
      writeFloats(s, out);
    }
  }

  private static float[][] readStages(DataInputView in) throws IOException {
    float[][] a = new float[in.readInt()][];
    for (int i = 0; i < a.length; i++) {
      a[i] = readFloats(in);
    }
    return a;
  }

  /** The serializer's configuration in a checkpoint: the state format version. */
  public static final class Snapshot extends VersionedSnapshot<SequenceRecord> {

    public Snapshot() {
      this(CURRENT);
    }

    Snapshot(int version) {
      super(version);
    }

    @Override
    int current() {
      return CURRENT;
    }

    @Override
    TypeSerializer<SequenceRecord> serializer(int version) {
      return new SequenceRecordSerializer(version);
    }
  }
}
