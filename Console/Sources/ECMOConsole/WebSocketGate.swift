import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTP1

/// Refused WebSocket handshakes answered with their real status.
///
/// Hummingbird's upgrade channel answers every refused upgrade with a bare 400, so a
/// browser from a foreign origin or without a session saw 400 where the documentation,
/// the log and the audit trail say 403 and 401. This gate sits right after the HTTP
/// request decoder: a handshake for `/api/ws` that `refusal` refuses loses its `Upgrade`
/// header, so NIO does not try to upgrade and the request reaches the HTTP router's
/// `GET /api/ws`, which answers 401 or 403 (JSON, logged and audited like any other).
final class WebSocketGate: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    let refuses: @Sendable (HTTPRequestHead) -> Bool

    init(refuses: @escaping @Sendable (HTTPRequestHead) -> Bool) { self.refuses = refuses }

    /// Only a connection's first request can be upgraded: the gate looks at its head and
    /// leaves the pipeline (after an upgrade the bytes are WebSocket frames, not HTTP).
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data) else {
            context.fireChannelRead(data)
            return
        }
        if head.headers["upgrade"].contains(where: { $0.lowercased().contains("websocket") }), refuses(head) {
            head.headers.remove(name: "upgrade")
            head.headers.replaceOrAdd(name: "connection", value: "close")
            context.fireChannelRead(wrapInboundOut(.head(head)))
        } else {
            context.fireChannelRead(data)
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}

/// Hummingbird's HTTP/1 + WebSocket upgrade channel with the `WebSocketGate` in front.
struct GatedWebSocketChannel: ServerChildChannel {
    typealias Value = HTTP1WebSocketUpgradeChannel.Value
    let inner: HTTP1WebSocketUpgradeChannel
    let refuses: @Sendable (HTTPRequestHead) -> Bool

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let decoder = try channel.pipeline.syncOperations.context(handlerType: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try channel.pipeline.syncOperations.addHandler(WebSocketGate(refuses: refuses), position: .after(decoder.handler))
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1 with WebSocket upgrades on `webSocketRouter`, refused handshakes answered by
    /// the HTTP router with their own status (see `WebSocketGate`).
    static func gatedWebSocketUpgrade<WSResponderBuilder: HTTPResponderBuilder & _HB_SendableMetatype>(
        webSocketRouter: WSResponderBuilder, configuration: HTTP1WebSocketUpgradeChannel.Configuration,
        refuses: @escaping @Sendable (HTTPRequestHead) -> Bool
    ) -> HTTPServerBuilder where WSResponderBuilder.Responder.Context: WebSocketRequestContext {
        let webSocketResponder = webSocketRouter.buildResponder()
        return HTTPServerBuilder { responder in
            GatedWebSocketChannel(
                inner: HTTP1WebSocketUpgradeChannel(responder: responder, webSocketResponder: webSocketResponder, configuration: configuration),
                refuses: refuses)
        }
    }
}
