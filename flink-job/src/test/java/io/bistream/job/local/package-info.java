/** Local mode: an embedded KRaft broker and jobs on a Flink MiniCluster, for local/demo/tests. */
package io.bistream.job.local;
