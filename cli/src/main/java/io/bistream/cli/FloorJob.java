package io.bistream.cli;

import io.bistream.core.model.Model;
import io.bistream.core.stream.StreamingEngine;
import io.bistream.job.BiStreamJob;
import io.bistream.job.JobOptions;
import io.bistream.job.JobSettings;
import io.bistream.job.ModelCache;
import io.bistream.job.local.LocalRun;
import io.bistream.job.records.InputEvent;
import io.bistream.job.records.OutputRecord;
import io.bistream.job.records.ParsedRecord;
import io.bistream.job.records.RecordParser;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.tuple.Tuple3;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * The floor of {@code bench --pipeline --floor}: what Flink and Kafka cost per record with no model
 * and no state. The job's own Kafka source (or one that reads only a record's key), {@code keyBy}
 * the sequence id, one small output per input (and an end record after a sequence's last, as the
 * job writes), the job's own exactly-once sink, on the options the job would run with. Its {@link
 * Kind#JSON_JOB_OUTPUT} variant writes outputs of the job's own shape instead, so that what the job
 * adds can be told from what its bigger output records cost Kafka.
 */
final class FloorJob {

  private FloorJob() {}

  /** What a floor reads and writes. */
  enum Kind {
    /** Reads only each record's key, writes {@code {"seq","t"}}. */
    BARE,
    /** Parses each record as the job does, writes {@code {"seq","t"}}. */
    JSON,
    /**
     * Parses each record as the job does, writes an output of the job's shape for one step: {@code
     * {"seq","t","y":[...],"mode","model_version"}} with the model's output width, every value
     * {@value #VALUE} (as long as most float texts the job writes).
     */
    JSON_JOB_OUTPUT
  }

  static final String VALUE = "0.12345678";

  /** Starts the floor of kind {@code kind} for {@code o}. */
  static JobClient start(JobOptions o, Kind kind) throws Exception {
    StreamExecutionEnvironment env = LocalRun.environment(o);
    JobSettings s = o.settings();
    String out = s.outputTopic();
    DataStream<OutputRecord> outputs;
    if (kind != Kind.BARE) {
      Model model = ModelCache.get(s.model());
      String tail = kind == Kind.JSON ? "}" : jobOutputTail(s, model);
      RecordParser parser = RecordParser.forJob(s, model);
      KafkaSource<ParsedRecord> source =
          BiStreamJob.kafkaSource(o.bootstrapServers, s, parser, o.startingOffsets());
      outputs =
          env.fromSource(source, WatermarkStrategy.noWatermarks(), "floor-input")
              .map(p -> p.event) // as the job: the parsed event crosses keyBy, nothing else
              .returns(TypeInformation.of(InputEvent.class))
              .keyBy(e -> e.seq, Types.STRING)
              .<OutputRecord>flatMap((e, c) -> emit(out, e.seq, e.t, tail, e.end, c))
              .returns(TypeInformation.of(OutputRecord.class));
    } else {
      KafkaSource<Tuple3<String, Long, Boolean>> source =
          KafkaSource.<Tuple3<String, Long, Boolean>>builder()
              .setBootstrapServers(o.bootstrapServers)
              .setTopics(s.inputTopic())
              .setGroupId(BiStreamJob.groupId(s))
              .setStartingOffsets(o.startingOffsets())
              .setProperties(BiStreamJob.sourceProperties(s))
              .setDeserializer(new KeyOnly())
              .build();
      outputs =
          env.fromSource(source, WatermarkStrategy.noWatermarks(), "floor-input")
              .keyBy(r -> r.f0, Types.STRING)
              .<OutputRecord>flatMap((r, c) -> emit(out, r.f0, r.f1, "}", r.f2, c))
              .returns(TypeInformation.of(OutputRecord.class));
    }
    outputs.sinkTo(
        BiStreamJob.kafkaSink(
            o.bootstrapServers,
            s.kafkaProperties(),
            "floor-" + s.inputTopic() + "-" + out,
            o.transactionTimeout,
            o.delivery));
    return env.executeAsync("floor-" + s.inputTopic());
  }

  /** What follows {@code "t"} in an output of the job's shape, the same for every record. */
  static String jobOutputTail(JobSettings s, Model model) {
    int width = new StreamingEngine(model, s.stream()).outputWidth();
    return ",\"y\":["
        + String.join(",", Collections.nCopies(width, VALUE))
        + "],\"mode\":\""
        + s.stream().mode().userName()
        + "\",\"model_version\":\""
        + s.modelVersion()
        + "\"}";
  }

  private static void emit(
      String topic, String seq, long t, String tail, boolean end, Collector<OutputRecord> c) {
    c.collect(new OutputRecord(topic, seq, "{\"seq\":\"" + seq + "\",\"t\":" + t + tail));
    if (end) {
      c.collect(new OutputRecord(topic, seq, "{\"seq\":\"" + seq + "\",\"end\":true}"));
    }
  }

  /**
   * A record's key, offset and whether it ends its sequence, without parsing it: the end is the
   * text {@code "end":true} anywhere in the value (the bench writes no other).
   */
  private static final class KeyOnly
      implements KafkaRecordDeserializationSchema<Tuple3<String, Long, Boolean>> {
    private static final byte[] END = "\"end\":true".getBytes(StandardCharsets.UTF_8);

    @Override
    public void deserialize(
        ConsumerRecord<byte[], byte[]> r, Collector<Tuple3<String, Long, Boolean>> out) {
      out.collect(
          Tuple3.of(new String(r.key(), StandardCharsets.UTF_8), r.offset(), contains(r.value())));
    }

    private static boolean contains(byte[] value) {
      outer:
      for (int i = value.length - END.length; i >= 0; i--) {
        for (int j = 0; j < END.length; j++) {
          if (value[i + j] != END[j]) {
            continue outer;
          }
        }
        return true;
      }
      return false;
    }

    @Override
    public TypeInformation<Tuple3<String, Long, Boolean>> getProducedType() {
      return Types.TUPLE(Types.STRING, Types.LONG, Types.BOOLEAN);
    }
  }
}
