package io.bistream.job.faults;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bistream.core.model.Model;
import io.bistream.core.stream.OfflineStreaming;
import io.bistream.core.stream.StreamConfig;
import io.bistream.core.stream.StreamingEngine;
import io.bistream.core.tensor.Tensor;
import io.bistream.job.records.OutputRecord;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * Reference outputs from model-core, not from the job: {@code model.predict} for exact mode, the
 * streaming engine fed one step at a time for lookahead and stateful (as {@code OfflineStreaming}
 * runs it), written as the records an {@link OutputLedger} reads, so a run's committed outputs can
 * be compared with them.
 */
final class Offline {

  /** The fault suite's model: a small TF.js-written BiLSTM (concat), 3 values per step. */
  static final String MODEL =
      Path.of("../model-core/src/test/resources/golden/tfjs/models/bilstm_concat/model.json")
          .toAbsolutePath()
          .normalize()
          .toString();

  static final int D = 3;

  private static final ObjectMapper JSON = new ObjectMapper();

  private Offline() {}

  /**
   * Per sequence, one {@code "y"} record per step and an end record with the step count, why it
   * ended and the model version (the job's {@code --model}, of the default {@code
   * --model-version}).
   *
   * @param inputs seq -> steps {@code [t, width]}, flattened
   * @param why seq -> the end reason the job must give
   */
  static OutputLedger ledger(
      Model model,
      StreamConfig stream,
      int width,
      Map<String, float[]> inputs,
      Function<String, String> why)
      throws Exception {
    List<ConsumerRecord<String, String>> records = new ArrayList<>();
    for (Map.Entry<String, float[]> in : inputs.entrySet()) {
      String seq = in.getKey();
      float[] y = outputs(model, stream, width, in.getValue());
      int t = in.getValue().length / width;
      int f = y.length / t;
      for (int step = 0; step < t; step++) {
        ObjectNode n = JSON.createObjectNode();
        n.put("seq", seq);
        n.put("t", step);
        ArrayNode row = n.putArray("y");
        for (int j = 0; j < f; j++) {
          row.add(y[step * f + j]);
        }
        records.add(record(seq, n.toString()));
      }
      ObjectNode end = JSON.createObjectNode();
      end.put("seq", seq);
      end.put("end", true);
      end.put("steps", t);
      end.put("why", why.apply(seq));
      end.put("model_version", io.bistream.job.JobSettings.DEFAULT_MODEL_VERSION); // --model's
      records.add(record(seq, end.toString()));
    }
    return OutputLedger.of(records);
  }

  /** The model's outputs for one sequence, {@code [t, F]} flattened. */
  static float[] outputs(Model model, StreamConfig stream, int width, float[] x) {
    Tensor in = new Tensor(x, new int[] {1, x.length / width, width});
    return stream.mode() == StreamConfig.Mode.EXACT
        ? model.predict(in).data()
        : OfflineStreaming.run(new StreamingEngine(model, stream), in, 1).data();
  }

  /** The job's records for one topic as a consumer would read them, for {@link OutputLedger}. */
  static List<ConsumerRecord<String, String>> consumed(List<OutputRecord> out, String topic) {
    List<ConsumerRecord<String, String>> records = new ArrayList<>();
    for (OutputRecord r : out) {
      if (r.topic.equals(topic)) {
        records.add(record(r.key, r.text()));
      }
    }
    return records;
  }

  private static ConsumerRecord<String, String> record(String key, String value) {
    return new ConsumerRecord<>("reference", 0, 0, key, value);
  }
}
