import java.lang.reflect.Field;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

/**
 * Starts DynamoDB Local bound to 127.0.0.1 only. Its CLI has no host option and its Jetty server is built with
 * `new Server(port)`, which listens on every interface; this launcher builds the server the way DynamoDB Local's own
 * main does (same command-line options), sets the host of its connector to loopback, then starts it. It is run as a
 * single-file source program (`java -cp DynamoDBLocal.jar DynamoDBLocalLoopback.java ...`, Java 11+), so nothing is
 * compiled ahead of time. Telemetry is not configured, so none is sent.
 */
public class DynamoDBLocalLoopback {
  public static void main(String[] args) throws Exception {
    DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
    Server jetty = null;
    for (Field field : DynamoDBProxyServer.class.getDeclaredFields()) {
      if (Server.class.isAssignableFrom(field.getType())) {
        field.setAccessible(true);
        jetty = (Server) field.get(proxy);
      }
    }
    if (jetty == null) throw new IllegalStateException("DynamoDB Local loopback launcher: no Jetty server found");
    Connector[] connectors = jetty.getConnectors();
    if (connectors.length == 0) throw new IllegalStateException("DynamoDB Local loopback launcher: no connector");
    for (Connector connector : connectors) {
      if (!(connector instanceof ServerConnector))
        throw new IllegalStateException("DynamoDB Local loopback launcher: unexpected connector " + connector);
      ((ServerConnector) connector).setHost("127.0.0.1");
    }
    proxy.start();
  }
}
