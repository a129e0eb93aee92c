package io.bistream.job;

import io.bistream.job.records.DeadLetter;
import io.bistream.job.records.InputEvent;
import io.bistream.job.records.ModelUpdate;
import io.bistream.job.records.OutputRecord;
import io.bistream.job.records.ParsedRecord;
import io.bistream.job.records.RecordParser;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.source.Source;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * The BiStream pipeline (docs/architecture.md, "The path of a record"): Kafka source, parse and
 * validate (dead letters to a side output), key by sequence id, {@link SequenceOperator}, one
 * exactly-once Kafka sink for the keyed operator's records, chained to it, and another for the
 * records that failed to parse.
 *
 * <p>The constructor takes the source and sinks so tests and the local mode plug in their own;
 * {@link #build} adds the topology to an environment.
 */
public final class BiStreamJob {

  static final OutputTag<OutputRecord> DEAD_LETTERS =
      new OutputTag<>("dead-letters", TypeInformation.of(OutputRecord.class));

  private final Source<ParsedRecord, ?, ?> source;
  private final Sink<OutputRecord> sink;
  private final Sink<OutputRecord> parseDeadLetterSink;
  private final JobSettings settings;
  private MapFunction<InputEvent, InputEvent> tap;
  private Source<ModelUpdate, ?, ?> models;

  /**
   * @param sink the keyed operator's outputs, end records and dead letters
   * @param parseDeadLetterSink dead letters of records that failed to parse: another instance (a
   *     transactional Kafka sink needs its own transactional id prefix)
   */
  public BiStreamJob(
      Source<ParsedRecord, ?, ?> source,
      Sink<OutputRecord> sink,
      Sink<OutputRecord> parseDeadLetterSink,
      JobSettings settings) {
    this.source = source;
    this.sink = sink;
    this.parseDeadLetterSink = parseDeadLetterSink;
    this.settings = settings;
  }

  /** Inserts a function on valid records before keying: failure injection in tests. */
  public BiStreamJob withTap(MapFunction<InputEvent, InputEvent> tap) {
    this.tap = tap;
    return this;
  }

  /**
   * The model control topic's records (docs/operations.md, "Model upgrades"): broadcast to every
   * subtask of the keyed operator, its second input. Without them the job serves {@code --model}.
   */
  public BiStreamJob withModelUpdates(Source<ModelUpdate, ?, ?> models) {
    this.models = models;
    return this;
  }

  /** Adds the pipeline to {@code env}. */
  public void build(StreamExecutionEnvironment env) {
    // Stable uids per pipeline so savepoints survive job changes and several pipelines can share
    // one job (the demo runs one per mode). Names may change; uids never (state restores by them).
    String id = settings.inputTopic() + "-" + settings.outputTopic();
    String name = nameOf(id);
    DataStream<ParsedRecord> parsed =
        env.fromSource(source, WatermarkStrategy.noWatermarks(), "kafka-" + name)
            .uid("kafka-input-" + id);
    SingleOutputStreamOperator<InputEvent> valid =
        parsed
            .process(new SplitDeadLetters(settings.deadLetterTopic()))
            .returns(TypeInformation.of(InputEvent.class))
            .name("validate-" + name)
            .uid("validate-" + id);
    DataStream<InputEvent> events =
        tap == null ? valid : valid.map(tap).returns(TypeInformation.of(InputEvent.class));
    var keyed = events.keyBy(e -> e.seq, Types.STRING);
    SingleOutputStreamOperator<OutputRecord> sequences;
    if (models == null) {
      sequences =
          keyed.transform(
              "bistream-sequences-" + name,
              TypeInformation.of(OutputRecord.class),
              new SequenceOperator(settings));
    } else {
      // One reader: the topic's order is the order of the versions.
      DataStream<ModelUpdate> updates =
          env.fromSource(models, WatermarkStrategy.noWatermarks(), "kafka-models-" + name)
              .uid("kafka-models-" + id)
              .setParallelism(1);
      sequences =
          keyed
              .connect(updates.broadcast())
              .transform(
                  "bistream-sequences-" + name,
                  TypeInformation.of(OutputRecord.class),
                  new SequenceOperator(settings));
    }
    // The same uid either way: a savepoint restores with or without --model-topic.
    sequences
        .uid("bistream-sequences-" + id)
        .sinkTo(sink)
        .name("kafka-output-" + name)
        .uid("kafka-output-" + id);
    // A sink of its own rather than a union into the one above: an operator with two inputs is
    // never chained, so the union cost every output a trip over Flink's network to a sink thread.
    // This one is not chained to the source (rebalance): only the rare dead letters cross to it,
    // and the source's task name, which its coordinator's metrics take, stays within 80
    // characters. (disableChaining would also part the sink's writer from its committer.)
    valid
        .getSideOutput(DEAD_LETTERS)
        .rebalance()
        .sinkTo(parseDeadLetterSink)
        .name("kafka-parse-dead-letters-" + name)
        .uid("kafka-parse-dead-letters-" + id);
  }

  /** The longest pipeline id operator names hold whole. */
  static final int NAME_ID_LENGTH = 26;

  /**
   * The pipeline's id ({@code <input>-<output>}) as operator names show it: whole when it has at
   * most {@value #NAME_ID_LENGTH} characters, else its start and a hash of the whole. Flink
   * truncates operator names over 80 characters in metrics, with a warning, and the source's
   * coordinator takes its task's name, "Source: kafka-<id> -> validate-<id>", which this bound
   * keeps within 80 (docs/operations.md, "Metrics").
   */
  static String nameOf(String id) {
    if (id.length() <= NAME_ID_LENGTH) {
      return id;
    }
    String hash = String.format("%08x", id.hashCode());
    return id.substring(0, NAME_ID_LENGTH - hash.length() - 1) + "~" + hash;
  }

  /**
   * Routes parse failures to the dead-letter side output, counting them per reason in the metric
   * {@code deadLetterReason.<reason>.parseDeadLetters}.
   */
  static final class SplitDeadLetters extends ProcessFunction<ParsedRecord, InputEvent> {
    private final String deadLetterTopic;
    private transient Map<String, Counter> counters;

    SplitDeadLetters(String deadLetterTopic) {
      this.deadLetterTopic = deadLetterTopic;
    }

    @Override
    public void open(OpenContext context) {
      // Registered once: Flink keeps the first metric of a name and ignores later registrations,
      // so a counter registered per record would stay at 1.
      counters = new HashMap<>();
      for (DeadLetter.Reason r : DeadLetter.Reason.values()) {
        counter(r.code());
      }
    }

    private Counter counter(String reason) {
      return counters.computeIfAbsent(
          reason,
          r ->
              getRuntimeContext()
                  .getMetricGroup()
                  .addGroup("deadLetterReason", r)
                  .counter("parseDeadLetters"));
    }

    @Override
    public void processElement(ParsedRecord p, Context ctx, Collector<InputEvent> out) {
      if (p.event != null) {
        out.collect(p.event);
      } else {
        counter(p.reason).inc();
        ctx.output(DEAD_LETTERS, new OutputRecord(deadLetterTopic, p.deadLetterKey, p.deadLetter));
      }
    }
  }

  // ------------------------------------------------------------------ Kafka I/O

  /**
   * A Kafka source of parsed records, committed data only. A job restored from a checkpoint reads
   * on from the checkpoint's offsets; one without state starts at {@code startingOffsets}. The
   * source commits its offsets to the consumer group {@link #groupId} when a checkpoint completes,
   * which is where {@code --start-from committed} resumes.
   */
  public static KafkaSource<ParsedRecord> kafkaSource(
      String bootstrapServers,
      JobSettings settings,
      RecordParser parser,
      OffsetsInitializer startingOffsets) {
    return KafkaSource.<ParsedRecord>builder()
        .setBootstrapServers(bootstrapServers)
        .setTopics(settings.inputTopic())
        .setGroupId(groupId(settings))
        .setStartingOffsets(startingOffsets)
        .setProperties(sourceProperties(settings))
        .setDeserializer(new Deserializer(parser))
        .build();
  }

  /**
   * A Kafka source of the model topic's records (committed data only), always from the topic's
   * start when the job has no state: it ends on the newest version the topic names. A restored job
   * reads on from its checkpoint's offsets.
   */
  public static KafkaSource<ModelUpdate> modelSource(
      String bootstrapServers, JobSettings settings) {
    return KafkaSource.<ModelUpdate>builder()
        .setBootstrapServers(bootstrapServers)
        .setTopics(settings.modelTopic())
        .setGroupId(groupId(settings) + "-models")
        .setStartingOffsets(OffsetsInitializer.earliest())
        .setProperties(sourceProperties(settings))
        .setDeserializer(new ModelDeserializer())
        .build();
  }

  /** The consumer group of a pipeline: one per input and output topic pair. */
  public static String groupId(JobSettings settings) {
    return "bistream-" + settings.inputTopic() + "-" + settings.outputTopic();
  }

  /**
   * The source's Kafka consumer properties: every {@code --kafka-property} (SASL, SSL, ...), and
   * {@code read_committed} unless the user set another isolation level.
   */
  public static Properties sourceProperties(JobSettings settings) {
    Properties props = new Properties();
    props.putAll(settings.kafkaProperties());
    props.putIfAbsent("isolation.level", "read_committed");
    return props;
  }

  /** Turns model topic records into model records; never throws on bad input. */
  static final class ModelDeserializer implements KafkaRecordDeserializationSchema<ModelUpdate> {
    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> r, Collector<ModelUpdate> out) {
      out.collect(ModelUpdate.parse(r.value(), r.topic(), r.partition(), r.offset()));
    }

    @Override
    public TypeInformation<ModelUpdate> getProducedType() {
      return TypeInformation.of(ModelUpdate.class);
    }
  }

  /** Turns raw Kafka records into parsed records; never throws on bad input. */
  static final class Deserializer implements KafkaRecordDeserializationSchema<ParsedRecord> {
    private final RecordParser parser;

    Deserializer(RecordParser parser) {
      this.parser = parser;
    }

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> r, Collector<ParsedRecord> out) {
      out.collect(
          ParsedRecord.of(
              parser.parse(
                  r.key(), r.value(), r.topic(), r.partition(), r.offset(), r.timestamp())));
    }

    @Override
    public TypeInformation<ParsedRecord> getProducedType() {
      return TypeInformation.of(ParsedRecord.class);
    }
  }

  /**
   * The Kafka sink. Exactly once: records leave in transactions committed with Flink checkpoints;
   * consumers must read with {@code isolation.level=read_committed}. At least once: records leave
   * at once, and the producer is flushed at each checkpoint, so a restart writes again only what
   * followed the last checkpoint.
   *
   * @param transactionTimeout must not exceed the broker's {@code transaction.max.timeout.ms}
   */
  public static KafkaSink<OutputRecord> kafkaSink(
      String bootstrapServers,
      Map<String, String> kafkaProperties,
      String transactionalIdPrefix,
      Duration transactionTimeout,
      JobOptions.Delivery delivery) {
    KafkaRecordSerializationSchema<OutputRecord> serializer =
        (rec, context, timestamp) ->
            new ProducerRecord<>(
                rec.topic,
                rec.key == null ? null : rec.key.getBytes(StandardCharsets.UTF_8),
                rec.value);
    return KafkaSink.<OutputRecord>builder()
        .setBootstrapServers(bootstrapServers)
        .setKafkaProducerConfig(sinkProperties(kafkaProperties, transactionTimeout))
        .setRecordSerializer(serializer)
        .setDeliveryGuarantee(
            delivery == JobOptions.Delivery.AT_LEAST_ONCE
                ? DeliveryGuarantee.AT_LEAST_ONCE
                : DeliveryGuarantee.EXACTLY_ONCE)
        .setTransactionalIdPrefix(transactionalIdPrefix)
        .build();
  }

  /**
   * The sink's Kafka producer properties: every {@code --kafka-property}, and the transaction
   * timeout unless the user set {@code transaction.timeout.ms}. The job's both sinks take them, so
   * they reach the dead-letter topic too.
   */
  static Properties sinkProperties(
      Map<String, String> kafkaProperties, Duration transactionTimeout) {
    Properties props = new Properties();
    props.putAll(kafkaProperties);
    props.putIfAbsent("transaction.timeout.ms", String.valueOf(transactionTimeout.toMillis()));
    return props;
  }
}
