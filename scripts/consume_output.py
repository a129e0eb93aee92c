#!/usr/bin/env python3
"""Reads a BiStream job's committed output with librdkafka (confluent-kafka), as any consumer would.

The job writes its outputs and dead letters in Kafka transactions committed with its checkpoints
(docs/operations.md, "Delivery and latency"), so a consumer reads with
isolation.level=read_committed: it sees every output once, and never one of a transaction the job
aborted after a failure. Nothing here is BiStream code: the records are plain JSON
(docs/schemas/).

  python3 scripts/consume_output.py --bootstrap-servers localhost:9092 \
      --topic bistream-out --topic bistream-in-dead-letters
  python3 scripts/consume_output.py ... --exit-at-end --json-lines > records.jsonl

Prints one line per record (topic, key, value; or with --json-lines one JSON object with topic,
partition, offset, key and value), reading every partition from the beginning; with --exit-at-end
it stops at the end of the committed records and prints a summary to standard error.

Needs Debian's python3-confluent-kafka (or pip's confluent-kafka).
"""

import argparse
import json
import sys
from collections import Counter

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bootstrap-servers", required=True)
    ap.add_argument("--topic", action="append", required=True,
                    help="output or dead-letter topic (repeat for several)")
    ap.add_argument("--exit-at-end", action="store_true",
                    help="stop at the end of the committed records instead of following")
    ap.add_argument("--json-lines", action="store_true",
                    help="one JSON object per record: topic, partition, offset, key, value")
    ap.add_argument("--timeout", type=float, default=30.0,
                    help="seconds to wait for the broker (default 30)")
    args = ap.parse_args()

    consumer = Consumer({
        "bootstrap.servers": args.bootstrap_servers,
        "group.id": "bistream-consume-output",  # never committed: offsets are assigned below
        "enable.auto.commit": False,
        # Only records of committed transactions; the end of a partition is its last stable offset.
        "isolation.level": "read_committed",
        "enable.partition.eof": True,
    })
    partitions = []
    for topic in args.topic:
        meta = consumer.list_topics(topic, timeout=args.timeout).topics[topic]
        if meta.error is not None:
            sys.exit(f"error: topic {topic} on {args.bootstrap_servers}: {meta.error.str()}")
        partitions += [TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(meta.partitions)]
    consumer.assign(partitions)

    open_partitions = {(tp.topic, tp.partition) for tp in partitions}
    seen = Counter()
    try:
        while not (args.exit_at_end and not open_partitions):
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            if msg.error() is not None:
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    open_partitions.discard((msg.topic(), msg.partition()))
                    continue
                sys.exit(f"error: {msg.error().str()}")
            key = msg.key().decode("utf-8") if msg.key() is not None else None
            value = msg.value().decode("utf-8") if msg.value() is not None else None
            count(seen, msg.topic(), value)
            if args.json_lines:
                print(json.dumps({"topic": msg.topic(), "partition": msg.partition(),
                                  "offset": msg.offset(), "key": key, "value": value},
                                 ensure_ascii=False), flush=True)
            else:
                print(f"{msg.topic()} {key} {value}", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    if args.exit_at_end:
        print(", ".join(f"{k}: {n}" for k, n in sorted(seen.items())) or "no records",
              file=sys.stderr)


def count(seen, topic, value):
    """Tallies a record: a step's output, a sequence's end (by why) or a dead letter (by reason)."""
    try:
        record = json.loads(value)
    except (TypeError, ValueError):
        seen[f"{topic} unreadable"] += 1
        return
    if "reason" in record:
        seen[f"{topic} dead letters {record['reason']}"] += 1
    elif record.get("end"):
        seen[f"{topic} ends {record.get('why')}"] += 1
    else:
        seen[f"{topic} outputs"] += 1


if __name__ == "__main__":
    main()
