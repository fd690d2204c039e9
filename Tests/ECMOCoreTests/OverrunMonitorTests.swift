import Testing
import ECMOCore

@Suite struct OverrunMonitorTests {
    let period = Duration.milliseconds(1)

    @Test func oneLateTickIsCountedButRaisesNoAlarm() {
        var m = OverrunMonitor(policy: OverrunPolicy(period: period))
        let s = m.update(lateness: .milliseconds(2), previousExecution: .microseconds(5), period: period)
        #expect(s.overran && !s.alarm && !s.shed && !s.safeState)
        #expect(m.total == 1)
    }

    @Test func threeInARowAlarmAndTheSecondSheds() {
        var m = OverrunMonitor(policy: OverrunPolicy(period: period))
        let a = m.update(lateness: .milliseconds(2), previousExecution: .zero, period: period)
        let b = m.update(lateness: .milliseconds(2), previousExecution: .zero, period: period)
        let c = m.update(lateness: .milliseconds(2), previousExecution: .zero, period: period)
        #expect(!a.shed && b.shed && !b.alarm && c.alarm)
        let d = m.update(lateness: .zero, previousExecution: .zero, period: period)
        #expect(!d.overran && !d.shed && !d.alarm, "the streak ends")
    }

    @Test func tenScatteredOverrunsInTheWindowAlarm() {
        var m = OverrunMonitor(policy: OverrunPolicy(period: period))
        var raised = -1
        for i in 0..<1000 {
            let late = i % 50 == 0   // one in fifty: never two in a row
            let s = m.update(lateness: late ? .milliseconds(3) : .zero, previousExecution: .zero, period: period)
            if s.alarm && raised < 0 { raised = i }
        }
        #expect(raised == 450, "the tenth overrun within 1000 ticks (tick 450) raises it")
        #expect(m.inWindow == 20)
        // A thousand quiet ticks empty the window.
        for _ in 0..<1000 { _ = m.update(lateness: .zero, previousExecution: .zero, period: period) }
        #expect(m.inWindow == 0)
    }

    @Test func aTickThatRanLongerThanItsPeriodIsAnOverrun() {
        var m = OverrunMonitor(policy: OverrunPolicy(period: period))
        let s = m.update(lateness: .zero, previousExecution: .microseconds(1500), period: period)
        #expect(s.overran)
    }

    @Test func theSafeStateNeedsTheSafetyDeadlineMissedThreeTimesInARow() {
        var m = OverrunMonitor(policy: OverrunPolicy(period: period))
        // 50 ms is the default safety deadline at 1 kHz; 49 ms late is an overrun, not a loss.
        for _ in 0..<10 { #expect(!m.update(lateness: .milliseconds(49), previousExecution: .zero, period: period).safeState) }
        #expect(!m.update(lateness: .milliseconds(60), previousExecution: .zero, period: period).safeState)
        #expect(!m.update(lateness: .milliseconds(60), previousExecution: .zero, period: period).safeState)
        #expect(m.update(lateness: .milliseconds(60), previousExecution: .zero, period: period).safeState)
    }

    @Test func oneLongStallAloneRaisesTheAlarm() {
        var m = OverrunMonitor(policy: OverrunPolicy(period: period))
        #expect(!m.update(lateness: .milliseconds(19), previousExecution: .zero, period: period).alarm, "19 periods: an overrun")
        _ = m.update(lateness: .zero, previousExecution: .zero, period: period)
        let s = m.update(lateness: .milliseconds(50), previousExecution: .zero, period: period)
        #expect(s.alarm, "one tick 50 periods late is an event")
        #expect(!s.safeState, "one stall is not a lost loop")
        #expect(!m.update(lateness: .zero, previousExecution: .zero, period: period).alarm, "the condition is the stall itself")
    }
}
