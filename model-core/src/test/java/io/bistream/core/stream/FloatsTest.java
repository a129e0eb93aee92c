package io.bistream.core.stream;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * A step buffer never changes the values a snapshot holds: the job keeps a snapshot's arrays in its
 * state and restores from them again after a failed engine call.
 */
class FloatsTest {

  private static final float[] ONE_TO_SIX = {1f, 2f, 3f, 4f, 5f, 6f};

  @Test
  void droppingAfterASnapshotLeavesTheSnapshotsValuesAsTheyWere() {
    Floats f = new Floats(new float[8], 0);
    f.append(ONE_TO_SIX, 0, 6);
    float[] shared = f.forSnapshot();
    assertThat(shared).as("shared with its room, not copied").hasSize(8);

    f.dropFirst(2);
    f.append(new float[] {7f, 8f}, 0, 2);

    assertThat(java.util.Arrays.copyOf(shared, 6)).containsExactly(ONE_TO_SIX);
    assertThat(f.toArray()).containsExactly(3f, 4f, 5f, 6f, 7f, 8f);
  }

  @Test
  void aBufferRestoredFromASnapshotAppendsOnlyPastItsLengthAndDropsIntoANewArray() {
    float[] snapshot = java.util.Arrays.copyOf(ONE_TO_SIX, 8);
    Floats first = Floats.restored(snapshot, 6);
    first.append(new float[] {7f}, 0, 1);
    first.dropFirst(3);
    // Restored again, as after a failed call: the snapshot's six values are intact.
    Floats again = Floats.restored(snapshot, 6);
    assertThat(again.toArray()).containsExactly(ONE_TO_SIX);
    again.dropFirst(1);
    assertThat(again.toArray()).containsExactly(2f, 3f, 4f, 5f, 6f);
    assertThat(java.util.Arrays.copyOf(snapshot, 6)).containsExactly(ONE_TO_SIX);
  }

  @Test
  void aBufferNoSnapshotSharesDropsInPlace() {
    float[] own = new float[8];
    Floats f = new Floats(own, 0);
    f.append(ONE_TO_SIX, 0, 6);
    f.dropFirst(2);
    f.append(new float[] {7f}, 0, 1);
    assertThat(java.util.Arrays.copyOf(own, 5))
        .as("moved within the array it was given")
        .containsExactly(3f, 4f, 5f, 6f, 7f);
    assertThat(f.toArray()).containsExactly(3f, 4f, 5f, 6f, 7f);
  }
}
