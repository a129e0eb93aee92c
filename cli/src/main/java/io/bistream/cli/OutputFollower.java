package io.bistream.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.function.LongConsumer;
import org.apache.flink.core.execution.JobClient;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Follows output topics from their beginning as a {@code read_committed} consumer, on a thread of
 * its own, and notes when each record became visible: the latency a consumer of the job sees, the
 * transaction commit at the next checkpoint included. Keeps which sequences have ended per topic.
 */
final class OutputFollower implements AutoCloseable {

  /** A record and the wall-clock time (ms) the follower first saw it. */
  record Seen(ConsumerRecord<String, String> record, long seenAt) {}

  private static final ObjectMapper JSON = new ObjectMapper();

  private final KafkaConsumer<String, String> consumer; // used by the thread only
  private final Map<String, List<Seen>> records = new HashMap<>(); // guarded by this
  private final Map<String, Map<String, Seen>> ends = new HashMap<>(); // guarded by this
  private final Thread thread;
  private volatile boolean closing;
  private volatile RuntimeException failure;

  OutputFollower(String bootstrapServers, List<String> topics) {
    Properties p = new Properties();
    p.put("bootstrap.servers", bootstrapServers);
    p.put("key.deserializer", StringDeserializer.class.getName());
    p.put("value.deserializer", StringDeserializer.class.getName());
    p.put("isolation.level", "read_committed");
    p.put("enable.auto.commit", "false");
    // The broker parks an empty fetch up to this long: it bounds how late a commit is noticed.
    p.put("fetch.max.wait.ms", "50");
    consumer = new KafkaConsumer<>(p);
    List<TopicPartition> partitions = new ArrayList<>();
    for (String topic : topics) {
      records.put(topic, new ArrayList<>());
      ends.put(topic, new HashMap<>());
      consumer
          .partitionsFor(topic, Duration.ofSeconds(30))
          .forEach(i -> partitions.add(new TopicPartition(topic, i.partition())));
    }
    consumer.assign(partitions);
    consumer.seekToBeginning(partitions);
    thread = new Thread(this::follow, "demo-output-follower");
    thread.setDaemon(true);
    thread.start();
  }

  private void follow() {
    try {
      while (!closing) {
        ConsumerRecords<String, String> batch = consumer.poll(Duration.ofMillis(200));
        long now = System.currentTimeMillis();
        synchronized (this) {
          for (ConsumerRecord<String, String> r : batch) {
            Seen seen = new Seen(r, now);
            records.get(r.topic()).add(seen);
            if (r.value() != null && r.value().contains("\"end\"")) {
              JsonNode n = JSON.readTree(r.value());
              if (n.path("end").asBoolean(false)) {
                ends.get(r.topic()).putIfAbsent(n.path("seq").asText(), seen);
              }
            }
          }
          notifyAll();
        }
      }
    } catch (WakeupException e) {
      // close() ends the wait of a poll
    } catch (Exception e) {
      failure = new IllegalStateException("reading the demo's output topics failed: " + e, e);
      synchronized (this) {
        notifyAll();
      }
    } finally {
      consumer.close(Duration.ofSeconds(5));
    }
  }

  /** The end record of {@code seq} on {@code topic} and when it was seen, or null. */
  synchronized Seen end(String topic, String seq) {
    return ends.get(topic).get(seq);
  }

  /** Every record of {@code topic} seen so far, in the order seen. */
  synchronized List<Seen> records(String topic) {
    return new ArrayList<>(records.get(topic));
  }

  /**
   * Waits until every topic of {@code sequences} shows the end record of each of its sequences.
   *
   * @param job the job writing the topics: its end stops the wait with its failure
   * @param progress told the number of end records seen (over all topics) as they come
   * @throws IllegalStateException naming a topic and its sequences still open after {@code
   *     timeout}, or the job's failure
   */
  void awaitEnded(
      Map<String, Set<String>> sequences, JobClient job, Duration timeout, LongConsumer progress)
      throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      long done = 0;
      Map<String, Set<String>> open = new HashMap<>();
      synchronized (this) {
        if (failure != null) {
          throw failure;
        }
        for (Map.Entry<String, Set<String>> e : sequences.entrySet()) {
          Set<String> missing = new HashSet<>(e.getValue());
          missing.removeAll(ends.get(e.getKey()).keySet());
          done += e.getValue().size() - missing.size();
          if (!missing.isEmpty()) {
            open.put(e.getKey(), missing);
          }
        }
        progress.accept(done);
        if (open.isEmpty()) {
          return;
        }
        wait(100);
      }
      if (job.getJobExecutionResult().isDone()) {
        throw new IllegalStateException("the demo job ended before its input did: " + why(job));
      }
      if (System.nanoTime() > deadline) {
        Map.Entry<String, Set<String>> e = open.entrySet().iterator().next();
        throw new IllegalStateException(
            "timed out after "
                + timeout.toSeconds()
                + " s waiting for "
                + e.getValue().size()
                + " sequences to end on "
                + e.getKey()
                + " (e.g. "
                + e.getValue().stream().sorted().limit(5).toList()
                + "); check its dead-letter topic");
      }
    }
  }

  /** The failure of a job that ended, or that it finished. */
  private static String why(JobClient job) throws InterruptedException {
    try {
      job.getJobExecutionResult().get();
      return "it finished";
    } catch (ExecutionException e) {
      Throwable root = e.getCause();
      while (root.getCause() != null && root.getCause() != root) {
        root = root.getCause();
      }
      return e.getCause() + (root == e.getCause() ? "" : "; caused by " + root);
    }
  }

  @Override
  public void close() throws InterruptedException {
    closing = true;
    consumer.wakeup();
    thread.join(10_000);
  }
}
