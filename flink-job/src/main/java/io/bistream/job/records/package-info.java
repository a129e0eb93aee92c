/** Kafka record formats: input parsing and validation, outputs, dead letters (DESIGN.md §5). */
package io.bistream.job.records;
