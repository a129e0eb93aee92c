package io.bistream.job;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tells a quiet input partition from a stalled source: a partition is quiet only when the broker
 * answers and the job's consumer group has committed offsets up to the partition's end, with no
 * transaction open and nothing but transaction markers or aborted records between, i.e. the job
 * consumed everything the producer wrote. An unreachable broker, or a consumer behind, is not
 * quiet: idle timeouts then wait instead of ending sequences whose producer never paused
 * (docs/operations.md, "Timeouts").
 *
 * <p>The Kafka source commits its offsets when a checkpoint completes, so a partition counts as
 * consumed at the latest one checkpoint interval after its last record. After a request the broker
 * did not answer, it counts as unreachable for a request timeout without being asked again: the
 * task thread would otherwise wait out the request timeout on every probe during an outage.
 */
final class InputLiveness implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(InputLiveness.class);
  private static final int REQUEST_TIMEOUT_MS = 2000;

  private final String topic;
  private final String groupId;
  private final Properties properties;
  private Admin admin;
  private KafkaConsumer<byte[], byte[]> consumer;
  private long unreachableUntil = Long.MIN_VALUE; // until then the broker counts as unreachable

  InputLiveness(
      String bootstrapServers, Map<String, String> kafkaProperties, String topic, String groupId) {
    this.topic = topic;
    this.groupId = groupId;
    properties = new Properties();
    properties.putAll(kafkaProperties);
    properties.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    properties.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, REQUEST_TIMEOUT_MS);
    properties.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, REQUEST_TIMEOUT_MS);
    properties.put(AdminClientConfig.CLIENT_ID_CONFIG, "bistream-input-liveness-" + groupId);
  }

  /**
   * True when the broker answered and the group's committed offset of {@code partition} has reached
   * its end (as in the class comment), false when the job is behind, null when the broker did not
   * answer at {@code nowMillis} or within a request timeout before it.
   */
  Boolean consumedEverything(int partition, long nowMillis) {
    if (nowMillis < unreachableUntil) {
      return null;
    }
    Boolean answer = ask(partition);
    if (answer == null) {
      unreachableUntil = nowMillis + REQUEST_TIMEOUT_MS;
    }
    return answer;
  }

  /** True or false as the broker says; null when it did not answer. */
  private Boolean ask(int partition) {
    TopicPartition tp = new TopicPartition(topic, partition);
    try {
      if (admin == null) {
        admin = Admin.create(properties);
      }
      // The read_committed end offset (LSO) stops at the first open transaction; the high
      // watermark is past everything written. Records in an open transaction are not consumed
      // yet: their producer is mid-transaction, not quiet.
      long stable = latestOffset(tp, IsolationLevel.READ_COMMITTED);
      long end = latestOffset(tp, IsolationLevel.READ_UNCOMMITTED);
      Map<TopicPartition, OffsetAndMetadata> committed =
          admin
              .listConsumerGroupOffsets(groupId)
              .partitionsToOffsetAndMetadata()
              .get(REQUEST_TIMEOUT_MS, TimeUnit.MILLISECONDS);
      OffsetAndMetadata at = committed.get(tp);
      if (end == 0 || (at != null && at.offset() >= end)) {
        return true;
      }
      if (at == null || stable < end) {
        return false;
      }
      // A transactional producer's commit marker takes an offset that the source never emits, so
      // the committed offset can stop just below the end: what lies between may hold no data.
      return !holdsData(tp, at.offset(), end);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return null;
    } catch (Exception e) {
      LOG.info(
          "Input partition {}-{} counts as not quiet: the broker did not say that this job"
              + " consumed all of it ({})",
          topic,
          partition,
          e.toString());
      return null;
    }
  }

  private long latestOffset(TopicPartition tp, IsolationLevel isolation) throws Exception {
    return admin
        .listOffsets(Map.of(tp, OffsetSpec.latest()), new ListOffsetsOptions(isolation))
        .partitionResult(tp)
        .get(REQUEST_TIMEOUT_MS, TimeUnit.MILLISECONDS)
        .offset();
  }

  /**
   * True when offsets [from, end) of {@code tp} hold a record a read_committed consumer sees (not
   * only transaction markers or aborted records).
   */
  private boolean holdsData(TopicPartition tp, long from, long end) {
    if (consumer == null) {
      Properties p = new Properties();
      p.putAll(properties);
      p.remove(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG);
      p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
      p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
      p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "1");
      p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
      p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
      consumer = new KafkaConsumer<>(p);
    }
    consumer.assign(List.of(tp));
    consumer.seek(tp, from);
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(REQUEST_TIMEOUT_MS);
    while (System.nanoTime() < deadline) {
      for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(100))) {
        if (r.offset() < end) {
          return true;
        }
      }
      if (consumer.position(tp, Duration.ofMillis(REQUEST_TIMEOUT_MS)) >= end) {
        return false;
      }
    }
    return true; // no answer in time: assume data, so a sequence waits rather than ends early
  }

  @Override
  public void close() {
    if (consumer != null) {
      consumer.close(Duration.ofMillis(REQUEST_TIMEOUT_MS));
      consumer = null;
    }
    if (admin != null) {
      admin.close(Duration.ofMillis(REQUEST_TIMEOUT_MS));
      admin = null;
    }
  }
}
