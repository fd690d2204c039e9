// ScenarioRunner.swift (being rewritten elsewhere) uses the run recorder without importing
// its module. Re-exported until that file imports ECMORecord itself; then delete this file.
@_exported import ECMORecord
