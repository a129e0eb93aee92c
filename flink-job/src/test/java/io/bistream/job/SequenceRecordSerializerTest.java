package io.bistream.job;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.bistream.core.stream.StreamConfig;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSchemaCompatibility;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.junit.jupiter.api.Test;

/**
 * The typed state's format versions: state written by version 1 (before {@code lastSeenAt}) and
 * version 2 (before {@code idleTimeoutMs}) is read back through the snapshot Flink keeps with it
 * and migrates to the current version.
 */
class SequenceRecordSerializerTest {

  private static SequenceRecord open() {
    SequenceRecord s = new SequenceRecord();
    s.config = StreamConfig.lookahead(4, 2);
    s.nextT = 17;
    s.endAt = 20;
    s.recent = new int[] {1, -2, 3};
    s.recentFrom = 14;
    s.bufferedSteps = 2;
    s.partition = 3;
    s.lastTimestamp = 1_000;
    s.lastSeenTimestamp = 1_100;
    s.lastSeenAt = 99_000;
    s.reorderSince = 1_050;
    s.idleTimer = 130_000;
    s.reorderTimer = 105_000;
    s.received = 17;
    s.emitted = 12;
    s.chunkStart = 12;
    s.pooledSteps = 5;
    s.pending = new float[] {0.5f, -1.25f};
    s.pendingLength = 2;
    s.candidate = new float[] {2f};
    s.forward = new float[][] {{1f, 2f}, null};
    s.backward = new float[][] {null, {3f}};
    s.pool = new float[] {7f, 8f};
    return s;
  }

  private static byte[] write(TypeSerializer<SequenceRecord> serializer, SequenceRecord s)
      throws Exception {
    DataOutputSerializer out = new DataOutputSerializer(256);
    serializer.serialize(s, out);
    return out.getCopyOfBuffer();
  }

  /** The snapshot as a checkpoint holds it, read back as a restoring job reads it. */
  private static TypeSerializerSnapshot<SequenceRecord> stored(TypeSerializer<SequenceRecord> s)
      throws Exception {
    DataOutputSerializer out = new DataOutputSerializer(64);
    TypeSerializerSnapshot.writeVersionedSnapshot(out, s.snapshotConfiguration());
    return TypeSerializerSnapshot.readVersionedSnapshot(
        new DataInputDeserializer(out.getCopyOfBuffer()),
        SequenceRecordSerializerTest.class.getClassLoader());
  }

  private static TypeSerializerSnapshot<SequenceRecord> stored(int version) throws Exception {
    return stored(new SequenceRecordSerializer(version));
  }

  @Test
  void stateWrittenByVersionOneRestoresInTheCurrentVersionAfterMigration() throws Exception {
    SequenceRecord written = open();
    byte[] v1 = write(new SequenceRecordSerializer(1), written);
    TypeSerializerSnapshot<SequenceRecord> old = stored(1);

    TypeSerializerSchemaCompatibility<SequenceRecord> c =
        new SequenceRecordSerializer().snapshotConfiguration().resolveSchemaCompatibility(old);
    assertThat(c.isCompatibleAfterMigration()).isTrue();

    // Flink reads with the serializer the snapshot restores, then writes with the current one.
    SequenceRecord read = old.restoreSerializer().deserialize(new DataInputDeserializer(v1));
    assertThat(read).usingRecursiveComparison().ignoringFields("lastSeenAt").isEqualTo(written);
    assertThat(read.lastSeenAt).as("the field version 1 did not have").isZero();
    SequenceRecordSerializer current = new SequenceRecordSerializer();
    SequenceRecord migrated = current.deserialize(new DataInputDeserializer(write(current, read)));
    assertThat(migrated).usingRecursiveComparison().isEqualTo(read);
    // lastSeenAt (version 2), idleTimeoutMs (version 3), no modelVersion (version 4), startedAt
    // (version 5), no tail (version 6)
    assertThat(write(current, written).length).isEqualTo(v1.length + 3 * Long.BYTES + 2);
  }

  @Test
  void stateWrittenByVersionTwoRestoresWithTheJobsIdleTimeout() throws Exception {
    SequenceRecord written = open();
    written.idleTimeoutMs = 3_600_000; // version 2 cannot hold it
    SequenceRecord read = readByOldVersionAndMigrate(2, written, "idleTimeoutMs");
    assertThat(read.idleTimeoutMs).as("0: the job's --idle-timeout, as in version 2").isZero();
  }

  @Test
  void stateWrittenByVersionThreeRestoresOnTheJobsModelVersion() throws Exception {
    SequenceRecord written = open();
    written.idleTimeoutMs = 3_600_000;
    written.modelVersion = "v2"; // version 3 cannot hold it
    SequenceRecord read = readByOldVersionAndMigrate(3, written, "modelVersion");
    assertThat(read.modelVersion).as("null: the job's --model-version, as in version 3").isNull();
  }

  @Test
  void stateWrittenByVersionFourRestoresWithoutAStartTime() throws Exception {
    SequenceRecord written = open();
    written.modelVersion = "v2";
    written.startedAt = 1_796_000_000_000L; // version 4 cannot hold it
    SequenceRecord read = readByOldVersionAndMigrate(4, written, "startedAt");
    assertThat(read.startedAt).as("0: not kept, as in version 4").isZero();
  }

  @Test
  void stateWrittenByVersionFiveRestoresWithEveryExactStepInTheMap() throws Exception {
    SequenceRecord written = open();
    written.startedAt = 1_796_000_000_000L;
    written.tail = tail(); // version 5 cannot hold it
    SequenceRecord read = readByOldVersionAndMigrate(5, written, "tail");
    assertThat(read.tail).as("null: no steps outside the map, as in version 5").isNull();
  }

  @Test
  void stateWrittenByVersionSixRestoresWithItsForwardOutputsAndTheSameBytes() throws Exception {
    SequenceRecord written = open();
    written.config = StreamConfig.exact();
    written.tail = tail(); // with forward outputs, as exact mode computed them until version 7
    SequenceRecord read = readByOldVersionAndMigrate(6, written, "tail");
    assertThat(read).usingRecursiveComparison().isEqualTo(written);
    assertThat(write(new SequenceRecordSerializer(), read))
        .as("version 7 adds no field")
        .isEqualTo(write(new SequenceRecordSerializer(6), written));
  }

  @Test
  void theCurrentVersionKeepsExactModesLatestSteps() throws Exception {
    SequenceRecord s = open();
    s.config = StreamConfig.exact();
    s.tail = tail();
    SequenceRecordSerializer current = new SequenceRecordSerializer();
    assertThat(current.deserialize(new DataInputDeserializer(write(current, s))))
        .usingRecursiveComparison()
        .isEqualTo(s);
  }

  /** Two steps of exact mode's buffers: inputs of width 2, mask, forward outputs of width 1. */
  private static StepBlock tail() {
    return new StepBlock(
        new float[] {1f, 2f, 3f, 4f}, new float[] {1f, 0f}, new float[] {5f, 6f}, new float[0]);
  }

  /**
   * {@code written} as format {@code version} wrote it, read back by that version's restored
   * serializer (equal but for {@code newField}, which that version cannot hold), and the current
   * serializer's migration of it keeping every field.
   */
  private static SequenceRecord readByOldVersionAndMigrate(
      int version, SequenceRecord written, String newField) throws Exception {
    byte[] bytes = write(new SequenceRecordSerializer(version), written);
    TypeSerializerSnapshot<SequenceRecord> old = stored(version);
    assertThat(
            new SequenceRecordSerializer()
                .snapshotConfiguration()
                .resolveSchemaCompatibility(old)
                .isCompatibleAfterMigration())
        .isTrue();
    SequenceRecord read = old.restoreSerializer().deserialize(new DataInputDeserializer(bytes));
    assertThat(read).usingRecursiveComparison().ignoringFields(newField).isEqualTo(written);
    SequenceRecordSerializer current = new SequenceRecordSerializer();
    SequenceRecord migrated = current.deserialize(new DataInputDeserializer(write(current, read)));
    assertThat(migrated).usingRecursiveComparison().isEqualTo(read);
    return read;
  }

  @Test
  void theCurrentVersionKeepsTheModelVersionASequenceIsPinnedTo() throws Exception {
    SequenceRecord s = open();
    s.modelVersion = "2026-12-05.b";
    SequenceRecordSerializer current = new SequenceRecordSerializer();
    assertThat(current.deserialize(new DataInputDeserializer(write(current, s))).modelVersion)
        .isEqualTo("2026-12-05.b");
  }

  @Test
  void theCurrentVersionKeepsASequencesOwnIdleTimeout() throws Exception {
    SequenceRecord s = open();
    s.idleTimeoutMs = 3_600_000;
    SequenceRecordSerializer current = new SequenceRecordSerializer();
    assertThat(current.deserialize(new DataInputDeserializer(write(current, s))).idleTimeoutMs)
        .isEqualTo(3_600_000);
  }

  @Test
  void theCurrentVersionReadsItsOwnStateAsIs() throws Exception {
    SequenceRecordSerializer current = new SequenceRecordSerializer();
    assertThat(
            current
                .snapshotConfiguration()
                .resolveSchemaCompatibility(stored(current))
                .isCompatibleAsIs())
        .isTrue();
    SequenceRecord s = open();
    assertThat(current.deserialize(new DataInputDeserializer(write(current, s))))
        .usingRecursiveComparison()
        .isEqualTo(s);
  }

  @Test
  void aTombstoneKeepsOnlyWhyWhenAndHowManySteps() throws Exception {
    SequenceRecord s = open();
    s.end(Tombstone.Why.GAP_NOT_FILLED, 17, 600_000);
    SequenceRecordSerializer current = new SequenceRecordSerializer();
    byte[] bytes = write(current, s);
    SequenceRecord read = current.deserialize(new DataInputDeserializer(bytes));
    assertThat(read.ended).isTrue();
    assertThat(read.why).isEqualTo(Tombstone.Why.GAP_NOT_FILLED);
    assertThat(read.endedSteps).isEqualTo(17);
    assertThat(read.retainUntil).isEqualTo(600_000);
    assertThat(read.recent).isNull();
    assertThat(bytes.length).isLessThan(40);
  }

  @Test
  void stateOfAVersionNewerThanTheJobIsRefusedNotMisread() throws Exception {
    SequenceRecordSerializer.Snapshot newer =
        new SequenceRecordSerializer.Snapshot(SequenceRecordSerializer.CURRENT + 1);
    assertThat(
            new SequenceRecordSerializer()
                .snapshotConfiguration()
                .resolveSchemaCompatibility(newer)
                .isIncompatible())
        .isTrue();
    assertThatThrownBy(newer::restoreSerializer)
        .hasMessageContaining("format version " + (SequenceRecordSerializer.CURRENT + 1));
  }

  /**
   * Floats are written as the JDK's {@code DataOutputStream} writes their raw bits: the format
   * every stored block has, written earlier by {@code writeFloat}, which differed only in making
   * every NaN the canonical one. Arrays longer than the serializer copies at once, a NaN payload
   * and negative zero read back bit for bit; the pending window writes only its length.
   */
  @Test
  void floatsAreBigEndianFloat32BitsAndReadBackBitForBit() throws Exception {
    float[] in = new float[2_500];
    for (int i = 0; i < in.length; i++) {
      in[i] = (float) Math.sin(i) * i;
    }
    in[1_023] = -0f;
    in[1_024] = Float.intBitsToFloat(0x7fc0_0001);
    StepBlock block = new StepBlock(in, new float[] {1f}, new float[0], new float[] {2f, 3f});
    DataOutputSerializer written = new DataOutputSerializer(16);
    new StepBlock.Serializer().serialize(block, written);

    java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
    java.io.DataOutputStream jdk = new java.io.DataOutputStream(bytes);
    for (float[] a : new float[][] {in, {1f}, {}, {2f, 3f}}) {
      jdk.writeInt(a.length);
      for (float v : a) {
        jdk.writeInt(Float.floatToRawIntBits(v));
      }
    }
    assertThat(written.getCopyOfBuffer()).isEqualTo(bytes.toByteArray());
    StepBlock read =
        new StepBlock.Serializer()
            .deserialize(new DataInputDeserializer(written.getCopyOfBuffer()));
    assertThat(read.in()).hasSize(in.length);
    for (int i = 0; i < in.length; i++) {
      assertThat(Float.floatToRawIntBits(read.in()[i])).isEqualTo(Float.floatToRawIntBits(in[i]));
    }

    SequenceRecord s = open();
    s.pending = new float[] {0.5f, -1.25f, 9f, 9f};
    s.pendingLength = 2;
    SequenceRecordSerializer current = new SequenceRecordSerializer();
    SequenceRecord back = current.deserialize(new DataInputDeserializer(write(current, s)));
    assertThat(back.pending).containsExactly(0.5f, -1.25f);
    assertThat(back.pendingLength).isEqualTo(2);
  }
}
