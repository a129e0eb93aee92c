package io.bistream.job.records;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/**
 * What the job's own serializers share (its keyed state's, and the shuffle's {@link
 * InputEventSerializer}): stateless (one instance serves every thread), variable length, no object
 * reuse.
 */
public abstract class JobSerializer<T> extends TypeSerializer<T> {

  private static final long serialVersionUID = 1L;

  @Override
  public TypeSerializer<T> duplicate() {
    return this;
  }

  @Override
  public int getLength() {
    return -1;
  }

  @Override
  public T copy(T from, T reuse) {
    return copy(from);
  }

  @Override
  public T deserialize(T reuse, DataInputView in) throws IOException {
    return deserialize(in);
  }

  @Override
  public void copy(DataInputView in, DataOutputView out) throws IOException {
    serialize(deserialize(in), out);
  }

  // Floats go through a byte array of at most this many, not one stream call each: a checkpoint of
  // exact mode's buffered steps wrote them one writeFloat (four byte writes) at a time.
  private static final int FLOATS_PER_COPY = 1024;

  /** The length (-1: null), then the values as big-endian float32, their bits as they are. */
  protected static void writeFloats(float[] a, DataOutputView out) throws IOException {
    if (a == null) {
      out.writeInt(-1);
    } else {
      writeFloats(a, a.length, out);
    }
  }

  /**
   * The first {@code length} values of {@code a}, as {@link #writeFloats(float[], DataOutputView)}.
   */
  protected static void writeFloats(float[] a, int length, DataOutputView out) throws IOException {
    out.writeInt(length);
    byte[] bytes = new byte[Math.min(length, FLOATS_PER_COPY) * Float.BYTES];
    FloatBuffer view = ByteBuffer.wrap(bytes).asFloatBuffer();
    for (int at = 0; at < length; at += FLOATS_PER_COPY) {
      int n = Math.min(FLOATS_PER_COPY, length - at);
      view.clear();
      view.put(a, at, n);
      out.write(bytes, 0, n * Float.BYTES);
    }
  }

  /** What {@link #writeFloats} wrote. */
  protected static float[] readFloats(DataInputView in) throws IOException {
    int length = in.readInt();
    if (length < 0) {
      return null;
    }
    float[] a = new float[length];
    byte[] bytes = new byte[Math.min(length, FLOATS_PER_COPY) * Float.BYTES];
    FloatBuffer view = ByteBuffer.wrap(bytes).asFloatBuffer();
    for (int at = 0; at < length; at += FLOATS_PER_COPY) {
      int n = Math.min(FLOATS_PER_COPY, length - at);
      in.readFully(bytes, 0, n * Float.BYTES);
      view.clear();
      view.get(a, at, n);
    }
    return a;
  }
}
