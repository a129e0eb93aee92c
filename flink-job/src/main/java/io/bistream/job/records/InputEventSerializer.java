package io.bistream.job.records;

import java.io.IOException;
import java.lang.reflect.Type;
import java.util.Map;
import org.apache.flink.api.common.serialization.SerializerConfig;
import org.apache.flink.api.common.typeinfo.TypeInfoFactory;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;
import org.apache.flink.types.StringValue;

/**
 * How an {@link InputEvent} crosses the shuffle to the keyed operator: its fields in a fixed order,
 * the steps as one block of big-endian float32. Flink's POJO serializer, which set and read each
 * field by reflection, took 6% of the keyed operator's thread on one-step records
 * (docs/benchmarks.md). No state holds this form: the job leaves unaligned checkpoints off (Flink's
 * default), so a checkpoint keeps no record in flight.
 */
public final class InputEventSerializer extends JobSerializer<InputEvent> {

  private static final long serialVersionUID = 1L;
  private static final InputEvent.Control[] CONTROLS = InputEvent.Control.values();

  @Override
  public boolean isImmutableType() {
    return false;
  }

  @Override
  public InputEvent createInstance() {
    return new InputEvent();
  }

  @Override
  public InputEvent copy(InputEvent from) {
    InputEvent e = new InputEvent();
    e.seq = from.seq;
    e.t = from.t;
    e.steps = from.steps;
    e.values = from.values == null ? null : from.values.clone();
    e.end = from.end;
    e.control = from.control;
    e.idleTimeoutMs = from.idleTimeoutMs;
    e.timestamp = from.timestamp;
    e.topic = from.topic;
    e.partition = from.partition;
    e.offset = from.offset;
    return e;
  }

  @Override
  public void serialize(InputEvent e, DataOutputView out) throws IOException {
    StringValue.writeString(e.seq, out); // no 64 KB limit, as Flink's StringSerializer
    out.writeLong(e.t);
    out.writeInt(e.steps);
    writeFloats(e.values, out);
    out.writeBoolean(e.end);
    out.writeByte(e.control == null ? -1 : e.control.ordinal());
    out.writeLong(e.idleTimeoutMs);
    out.writeLong(e.timestamp);
    out.writeBoolean(e.topic != null);
    if (e.topic != null) {
      StringValue.writeString(e.topic, out);
    }
    out.writeInt(e.partition);
    out.writeLong(e.offset);
  }

  @Override
  public InputEvent deserialize(DataInputView in) throws IOException {
    InputEvent e = new InputEvent();
    e.seq = StringValue.readString(in);
    e.t = in.readLong();
    e.steps = in.readInt();
    e.values = readFloats(in);
    e.end = in.readBoolean();
    int control = in.readByte();
    e.control = control < 0 ? null : CONTROLS[control];
    e.idleTimeoutMs = in.readLong();
    e.timestamp = in.readLong();
    e.topic = in.readBoolean() ? StringValue.readString(in) : null;
    e.partition = in.readInt();
    e.offset = in.readLong();
    return e;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof InputEventSerializer;
  }

  @Override
  public int hashCode() {
    return InputEventSerializer.class.hashCode();
  }

  @Override
  public TypeSerializerSnapshot<InputEvent> snapshotConfiguration() {
    return new Snapshot();
  }

  /** Its snapshot: the form has no parameters. */
  public static final class Snapshot extends SimpleTypeSerializerSnapshot<InputEvent> {
    public Snapshot() {
      super(InputEventSerializer::new);
    }
  }

  /** The type information {@link InputEvent} names with {@code @TypeInfo}. */
  public static final class Factory extends TypeInfoFactory<InputEvent> {
    @Override
    public TypeInformation<InputEvent> createTypeInfo(
        Type t, Map<String, TypeInformation<?>> genericParameters) {
      return new Info();
    }
  }

  /** {@link InputEvent}'s type information: serialized by {@link InputEventSerializer}. */
  public static final class Info extends TypeInformation<InputEvent> {
    private static final long serialVersionUID = 1L;

    @Override
    public boolean isBasicType() {
      return false;
    }

    @Override
    public boolean isTupleType() {
      return false;
    }

    @Override
    public int getArity() {
      return 1;
    }

    @Override
    public int getTotalFields() {
      return 1;
    }

    @Override
    public Class<InputEvent> getTypeClass() {
      return InputEvent.class;
    }

    @Override
    public boolean isKeyType() {
      return false;
    }

    @Override
    public TypeSerializer<InputEvent> createSerializer(SerializerConfig config) {
      return new InputEventSerializer();
    }

    @Override
    public String toString() {
      return "InputEvent";
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Info;
    }

    @Override
    public int hashCode() {
      return Info.class.hashCode();
    }

    @Override
    public boolean canEqual(Object o) {
      return o instanceof Info;
    }
  }
}
