package io.bistream.job;

import java.io.IOException;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;

/**
 * Finds retained checkpoints for {@code --restore}. Flink writes a pipeline's checkpoints to {@code
 * <storage>/<job id>/chk-<n>/}; a checkpoint is complete once its {@code _metadata} file exists
 * (Flink writes it last, under a temporary name, then renames it).
 */
final class Checkpoints {

  private static final String METADATA = "_metadata";

  private Checkpoints() {}

  /**
   * The newest complete checkpoint (by the time its {@code _metadata} was written) of any job under
   * {@code storage}, or null when there is none. Checkpoint numbers are not compared: a job started
   * without state counts from 1 again.
   */
  static Path latest(Path storage) throws IOException {
    FileSystem fs = storage.getFileSystem();
    Path newest = null;
    long newestTime = Long.MIN_VALUE;
    for (FileStatus job : list(fs, storage)) {
      if (!job.isDir()) {
        continue;
      }
      for (FileStatus chk : list(fs, job.getPath())) {
        if (!chk.isDir() || !chk.getPath().getName().startsWith("chk-")) {
          continue;
        }
        Path metadata = new Path(chk.getPath(), METADATA);
        if (fs.exists(metadata)) {
          long time = fs.getFileStatus(metadata).getModificationTime();
          if (time > newestTime) {
            newest = chk.getPath();
            newestTime = time;
          }
        }
      }
    }
    return newest;
  }

  /**
   * Checks that {@code dir} is a checkpoint or savepoint directory Flink can restore.
   *
   * @throws IllegalArgumentException naming the path and what is missing
   */
  static void requireComplete(Path dir) throws IOException {
    FileSystem fs = dir.getFileSystem();
    if (!fs.exists(dir)) {
      throw new IllegalArgumentException(
          "--restore " + dir + ": no such directory; expected a chk-N or savepoint directory");
    }
    if (!fs.getFileStatus(dir).isDir() || !fs.exists(new Path(dir, METADATA))) {
      throw new IllegalArgumentException(
          "--restore "
              + dir
              + ": not a complete checkpoint or savepoint (expected a directory holding "
              + METADATA
              + "; a chk-N directory without it was still being written when the job stopped)");
    }
  }

  private static FileStatus[] list(FileSystem fs, Path dir) throws IOException {
    if (!fs.exists(dir)) {
      return new FileStatus[0];
    }
    FileStatus[] files = fs.listStatus(dir);
    return files == null ? new FileStatus[0] : files;
  }
}
