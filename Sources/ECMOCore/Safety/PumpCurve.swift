/// The pump's pressure–flow curve, H = k·ω² − h·Q·|Q| (ω in krpm, Q in L/min, H in mmHg),
/// from the board file. With the measured head across the pump (P_pre − P_drain) and the
/// measured speed it predicts the flow, which cross-checks the flow meter.
public struct PumpCurve: Sendable, Equatable {
    public var headCoefficient: Double
    public var flowLoss: Double
    public init(headCoefficient: Double, flowLoss: Double) {
        self.headCoefficient = headCoefficient
        self.flowLoss = flowLoss
    }

    /// Flow the curve gives for a speed and a head; nil where the curve is flat or undefined.
    public func predictedFlow(speed: PumpSpeed, head: Pressure) -> Flow? {
        guard flowLoss > 0, speed.rpm > 0 else { return nil }
        let w = speed.rpm / 1000
        let x = (headCoefficient * w * w - head.mmHg) / flowLoss
        return Flow(litersPerMinute: x > 0 ? x.squareRoot() : 0)
    }
}
