package io.bistream.job.records;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Base64;

/**
 * The binary float encoding of records (docs/schemas/input-record.schema.json): little-endian IEEE
 * float32, carried in JSON as base64 ({@code "xs_f32"} in, {@code "y_f32"}/{@code "ys_f32"} out).
 */
public final class Float32 {

  private Float32() {}

  /** {@code v[off .. off + len)} as little-endian float32 bytes. */
  public static byte[] littleEndian(float[] v, int off, int len) {
    ByteBuffer b = ByteBuffer.allocate(len * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(v, off, len);
    return b.array();
  }

  /** {@link #littleEndian} in base64, the form records carry. */
  public static String base64(float[] v, int off, int len) {
    return new String(base64Ascii(v, off, len), StandardCharsets.US_ASCII);
  }

  /** {@link #base64} as its ASCII bytes, for writers that take raw UTF-8. */
  public static byte[] base64Ascii(float[] v, int off, int len) {
    return Base64.getEncoder().encode(littleEndian(v, off, len));
  }

  /** The floats of little-endian float32 bytes; {@code raw.length} a multiple of 4. */
  public static float[] floats(byte[] raw) {
    float[] v = new float[raw.length / Float.BYTES];
    ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(v);
    return v;
  }
}
