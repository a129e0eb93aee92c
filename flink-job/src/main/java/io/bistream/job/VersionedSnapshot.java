package io.bistream.job;

import java.io.IOException;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSchemaCompatibility;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/**
 * The configuration a checkpoint keeps for one of the job's state serializers: the format version
 * the state was written in. A restore reads state of an earlier version with a serializer of that
 * version and Flink migrates it to the current one; state of a newer version than the job knows is
 * refused with Flink's incompatibility error, never misread.
 */
abstract class VersionedSnapshot<T> implements TypeSerializerSnapshot<T> {

  private int version;

  VersionedSnapshot(int version) {
    this.version = version;
  }

  int version() {
    return version;
  }

  /** The format this version of the job writes. */
  abstract int current();

  /** A serializer of format {@code version}. */
  abstract TypeSerializer<T> serializer(int version);

  /** True when state written with {@code old}, another serializer, can be read and migrated. */
  boolean migratesFrom(TypeSerializerSnapshot<T> old) {
    return false;
  }

  @Override
  public int getCurrentVersion() {
    return 1; // of this snapshot's own layout: one int, the state format version
  }

  @Override
  public void writeSnapshot(DataOutputView out) throws IOException {
    out.writeInt(version);
  }

  @Override
  public void readSnapshot(int readVersion, DataInputView in, ClassLoader classLoader)
      throws IOException {
    version = in.readInt();
  }

  @Override
  public TypeSerializer<T> restoreSerializer() {
    return serializer(version);
  }

  @Override
  public TypeSerializerSchemaCompatibility<T> resolveSchemaCompatibility(
      TypeSerializerSnapshot<T> old) {
    if (old.getClass() != getClass()) {
      return migratesFrom(old)
          ? TypeSerializerSchemaCompatibility.compatibleAfterMigration()
          : TypeSerializerSchemaCompatibility.incompatible();
    }
    int written = ((VersionedSnapshot<T>) old).version;
    if (written > version) {
      return TypeSerializerSchemaCompatibility.incompatible();
    }
    return written == version
        ? TypeSerializerSchemaCompatibility.compatibleAsIs()
        : TypeSerializerSchemaCompatibility.compatibleAfterMigration();
  }
}
