package io.bistream.core.onnx;

import io.bistream.core.model.ModelFormatException;
import io.bistream.core.onnx.Symbolic.Const;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import onnx.Onnx;

/** Reading the generated ONNX protobuf classes: declared shapes, attributes, tensor payloads. */
final class OnnxProtos {

  private OnnxProtos() {}

  static long[] declaredShape(Onnx.ValueInfoProto in) {
    Onnx.TensorShapeProto s = in.getType().getTensorType().getShape();
    long[] out = new long[s.getDimCount()];
    for (int i = 0; i < out.length; i++) {
      Onnx.TensorShapeProto.Dimension d = s.getDim(i);
      out[i] = d.hasDimValue() ? d.getDimValue() : -1;
    }
    return out;
  }

  /**
   * Decodes a float32/int32/int64/double/bool tensor (raw little-endian or typed fields).
   *
   * @param what "file: initializer 'x'" for error messages
   */
  static Const tensor(Onnx.TensorProto t, String what) throws ModelFormatException {
    int[] shape = new int[t.getDimsCount()];
    long size = 1;
    for (int i = 0; i < shape.length; i++) {
      shape[i] = Math.toIntExact(t.getDims(i));
      size *= shape[i];
    }
    if (t.getDataLocation() == Onnx.TensorProto.DataLocation.EXTERNAL) {
      throw new ModelFormatException(
          what + " is stored in an external file; re-export without external data");
    }
    double[] data = new double[Math.toIntExact(size)];
    ByteBuffer raw =
        t.getRawData().isEmpty()
            ? null
            : t.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
    int type = t.getDataType();
    int width =
        switch (type) {
          case 1, 6 -> 4; // FLOAT, INT32
          case 7, 11 -> 8; // INT64, DOUBLE
          case 9 -> 1; // BOOL
          default -> -1;
        };
    if (width < 0) {
      throw new ModelFormatException(
          what + " has ONNX element type " + type + "; expected float32 or int64");
    }
    long available = raw != null ? raw.remaining() / width : dataCount(t, type);
    if (available != size) {
      throw new ModelFormatException(
          what
              + " of shape "
              + Arrays.toString(shape)
              + " holds "
              + available
              + " values, expected "
              + size
              + " (corrupt or truncated file)");
    }
    for (int i = 0; i < data.length; i++) {
      data[i] =
          raw != null
              ? switch (type) {
                case 1 -> raw.getFloat();
                case 6 -> raw.getInt();
                case 7 -> raw.getLong();
                case 11 -> raw.getDouble();
                default -> raw.get();
              }
              : switch (type) {
                case 1 -> t.getFloatData(i);
                case 6, 9 -> t.getInt32Data(i);
                case 7 -> t.getInt64Data(i);
                default -> t.getDoubleData(i);
              };
    }
    return new Const(shape, data);
  }

  static long dataCount(Onnx.TensorProto t, int type) {
    return switch (type) {
      case 1 -> t.getFloatDataCount();
      case 6, 9 -> t.getInt32DataCount();
      case 7 -> t.getInt64DataCount();
      default -> t.getDoubleDataCount();
    };
  }

  static Onnx.AttributeProto attr(Onnx.NodeProto n, String name) {
    for (Onnx.AttributeProto a : n.getAttributeList()) {
      if (a.getName().equals(name)) {
        return a;
      }
    }
    return null;
  }

  static boolean hasAttr(Onnx.NodeProto n, String name) {
    return attr(n, name) != null;
  }

  static long intAttr(Onnx.NodeProto n, String name, long fallback) {
    Onnx.AttributeProto a = attr(n, name);
    return a == null ? fallback : a.getI();
  }

  static float floatAttr(Onnx.NodeProto n, String name, float fallback) {
    Onnx.AttributeProto a = attr(n, name);
    return a == null ? fallback : a.getF();
  }

  static long[] longsAttr(Onnx.NodeProto n, String name, long[] fallback) {
    Onnx.AttributeProto a = attr(n, name);
    return a == null ? fallback : a.getIntsList().stream().mapToLong(Long::longValue).toArray();
  }

  static String stringAttr(Onnx.NodeProto n, String name, String fallback) {
    Onnx.AttributeProto a = attr(n, name);
    return a == null ? fallback : a.getS().toStringUtf8();
  }

  static List<String> stringsAttr(Onnx.NodeProto n, String name) {
    Onnx.AttributeProto a = attr(n, name);
    if (a == null) {
      return List.of();
    }
    List<String> out = new ArrayList<>();
    for (int i = 0; i < a.getStringsCount(); i++) {
      out.add(a.getStrings(i).toStringUtf8());
    }
    return out;
  }
}
