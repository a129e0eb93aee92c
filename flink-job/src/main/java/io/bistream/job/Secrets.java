package io.bistream.job;

import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Masks secret values before options or Kafka client properties are logged or printed.
 *
 * <p>A key is secret when its lower-cased name contains {@code password}, {@code secret}, {@code
 * jaas}, {@code token} or {@code credential}, or has a part (between dots, dashes, underscores)
 * ending in {@code key}: {@code sasl.jaas.config}, {@code ssl.keystore.password}, {@code
 * ssl.keystore.key}, {@code sasl.oauthbearer.client.credentials.client.secret}, {@code api-key} ...
 * while {@code ssl.keystore.location} stays readable. Keys such as {@code key.serializer} are
 * masked too: masking a harmless value costs nothing, printing a password does.
 */
public final class Secrets {

  /** What a secret value is replaced with. */
  public static final String MASK = "******";

  private static final String[] MARKERS = {"password", "secret", "jaas", "token", "credential"};

  private Secrets() {}

  /** Whether the value of {@code key} must never be logged. */
  public static boolean isSecret(String key) {
    String k = key.toLowerCase(Locale.ROOT);
    for (String marker : MARKERS) {
      if (k.contains(marker)) {
        return true;
      }
    }
    for (String part : k.split("[._-]")) {
      if (part.endsWith("key")) {
        return true;
      }
    }
    return false;
  }

  /**
   * {@code properties} sorted by key, with the value of every secret key replaced by {@link #MASK}.
   */
  public static Map<String, String> mask(Map<String, String> properties) {
    Map<String, String> masked = new TreeMap<>();
    properties.forEach((k, v) -> masked.put(k, isSecret(k) ? MASK : v));
    return masked;
  }
}
