package io.bistream.job;

import io.bistream.job.records.InputEvent;
import io.bistream.job.records.JobSerializer;
import java.io.IOException;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.java.typeutils.runtime.PojoSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/**
 * Writes a piece of a record waiting in a sequence's reorder buffer: its steps and where the record
 * is, field by field. Format version 1. Reorder buffers written before, as Flink POJOs of {@link
 * InputEvent}, are read with Flink's POJO serializer and migrated on restore.
 */
public final class ReorderPieceSerializer extends JobSerializer<InputEvent> {

  private static final long serialVersionUID = 1L;

  static final int CURRENT = 1;

  @Override
  public boolean isImmutableType() {
    return true; // a buffered piece is never changed, only replaced
  }

  @Override
  public InputEvent createInstance() {
    return new InputEvent();
  }

  @Override
  public InputEvent copy(InputEvent from) {
    return from;
  }

  @Override
  public void serialize(InputEvent e, DataOutputView out) throws IOException {
    out.writeUTF(e.seq);
    out.writeLong(e.t);
    out.writeInt(e.steps);
    writeFloats(e.values, out);
    out.writeBoolean(e.end);
    out.writeLong(e.timestamp);
    out.writeUTF(e.topic == null ? "" : e.topic);
    out.writeInt(e.partition);
    out.writeLong(e.offset);
  }

  @Override
  public InputEvent deserialize(DataInputView in) throws IOException {
    InputEvent e = new InputEvent();
    e.seq = in.readUTF();
    e.t = in.readLong();
    e.steps = in.readInt();
    e.values = readFloats(in);
    e.end = in.readBoolean();
    e.timestamp = in.readLong();
    e.topic = in.readUTF();
    e.partition = in.readInt();
    e.offset = in.readLong();
    return e;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof ReorderPieceSerializer;
  }

  @Override
  public int hashCode() {
    return ReorderPieceSerializer.class.hashCode();
  }

  @Override
  public TypeSerializerSnapshot<InputEvent> snapshotConfiguration() {
    return new Snapshot();
  }

  /** The state format version; migrates from the POJO form of earlier versions. */
  public static final class Snapshot extends VersionedSnapshot<InputEvent> {

    public Snapshot() {
      super(CURRENT);
    }

    @Override
    int current() {
      return CURRENT;
    }

    @Override
    TypeSerializer<InputEvent> serializer(int version) {
      return new ReorderPieceSerializer();
    }

    @Override
    boolean migratesFrom(TypeSerializerSnapshot<InputEvent> old) {
      return old instanceof PojoSerializerSnapshot;
    }
  }
}
