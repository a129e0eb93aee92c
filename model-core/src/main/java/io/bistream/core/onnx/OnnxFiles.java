package io.bistream.core.onnx;

import io.bistream.core.model.Model;
import io.bistream.core.model.ModelFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import onnx.Onnx;
import org.nd4j.shade.protobuf.InvalidProtocolBufferException;

/**
 * Reads an ONNX {@code ModelProto} with the ONNX classes generated from {@code onnx.proto} that
 * ship in nd4j-api (protobuf shaded as {@code org.nd4j.shade.protobuf}) and maps its graph onto a
 * {@link Model}.
 *
 * <p>BiStream's tensors are batch-major: the model input is {@code [N, T, D]} and sequence outputs
 * are {@code [N, T, F]} whatever the graph's layout. A graph exported with {@code
 * batch_first=False} (input {@code [T, N, D]}) is therefore fed {@code x.transpose(0, 1)} and its
 * outputs come back transposed the same way. Initial-state graph inputs {@code [k, N, H]} become k
 * model inputs {@code name[i]} of shape {@code [N, H]}.
 */
public final class OnnxFiles {

  private OnnxFiles() {}

  /** Loads a {@code .onnx} file. */
  public static Model load(Path file) throws ModelFormatException {
    String label = file.toString();
    byte[] bytes;
    try {
      bytes = Files.readAllBytes(file);
    } catch (IOException e) {
      throw new ModelFormatException(label + ": cannot read: " + e.getMessage(), e);
    }
    Onnx.ModelProto proto;
    try {
      proto = Onnx.ModelProto.parseFrom(bytes);
    } catch (InvalidProtocolBufferException e) {
      throw new ModelFormatException(
          label
              + ": not a readable ONNX model (corrupt or truncated protobuf: "
              + e.getMessage()
              + "). Re-export it with torch.onnx.export.",
          e);
    }
    if (!proto.hasGraph() || proto.getGraph().getNodeCount() == 0) {
      throw new ModelFormatException(
          label
              + ": not an ONNX model: no graph nodes found (corrupt or truncated file?)."
              + " Re-export it with torch.onnx.export.");
    }
    return new OnnxModelBuilder(label, proto).build();
  }
}
