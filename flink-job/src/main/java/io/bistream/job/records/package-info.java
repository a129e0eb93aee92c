/** Kafka record formats: input parsing and validation, outputs, dead letters (docs/schemas). */
package io.bistream.job.records;
