import Foundation
import Report
import Support
import SwiftProtobuf
import Training

/// TensorBoard event files. A file is a sequence of TFRecords,
///   length: UInt64 LE | masked CRC-32C(length bytes): UInt32 LE | payload | masked CRC-32C(payload): UInt32 LE,
/// each payload an `Event` protobuf (TensorBoardProto.pb.swift); the first event names the
/// file version.
public enum TFRecord {
    public static func frame(_ payload: [UInt8]) -> [UInt8] {
        let length = littleEndian(UInt64(payload.count))
        return length + littleEndian(CRC32C.masked(length)) + payload + littleEndian(CRC32C.masked(payload))
    }

    /// The payloads of a file, in order. Throws at a truncated record or a CRC that does not match.
    public static func payloads(_ bytes: [UInt8]) throws -> [[UInt8]] {
        var out: [[UInt8]] = []
        var at = 0
        while at < bytes.count {
            guard bytes.count - at >= 16 else { throw TFRecordError(offset: at, reason: "truncated record") }
            let header = Array(bytes[at..<at + 8])
            guard readUInt32(bytes, at + 8) == CRC32C.masked(header) else {
                throw TFRecordError(offset: at, reason: "length CRC does not match")
            }
            let length = header.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            guard length <= UInt64(bytes.count - at - 16) else {
                throw TFRecordError(offset: at, reason: "truncated record of \(length) bytes")
            }
            let payload = Array(bytes[at + 12..<at + 12 + Int(length)])
            guard readUInt32(bytes, at + 12 + Int(length)) == CRC32C.masked(payload) else {
                throw TFRecordError(offset: at, reason: "payload CRC does not match")
            }
            out.append(payload)
            at += 16 + Int(length)
        }
        return out
    }

    static func littleEndian<T: FixedWidthInteger>(_ x: T) -> [UInt8] {
        (0..<T.bitWidth / 8).map { UInt8(truncatingIfNeeded: x >> ($0 * 8)) }
    }

    static func readUInt32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[at + $1]) << ($1 * 8) }
    }
}

public struct TFRecordError: Error, CustomStringConvertible {
    public let offset: Int
    public let reason: String
    public var description: String { "event file: \(reason) at byte \(offset)" }
}

/// One run as TensorBoard shows it:
/// - step 0: the run's config as a text summary (`config`);
/// - step e, for each epoch: `train/recon`, `train/kl`, `train/total`, `test/…` (no KL for the AE);
/// - step = the last epoch: `final/<metric>`, the summary's final metrics.
/// Wall times are the run's own (timing.json's start plus its epoch times), so the same results
/// give the same bytes.
public enum TensorBoardRun {
    public static let fileName = "events.out.tfevents.0.vaelab"

    public static func events(_ r: StudyRun) -> [Tensorboard_Event] {
        let start = r.run.timing.flatMap { parseDate($0.startedAt) } ?? 0
        let epochSeconds = r.run.timing?.epochSeconds ?? []
        var events = [event(wall: start, step: 0) { $0.fileVersion = "brain.Event:2" }]
        events.append(event(wall: start, step: 0) { $0.summary.value = [text("config", configTable(r))] })
        for record in r.metrics.epochs {
            let wall = start + epochSeconds.prefix(record.epoch).reduce(0, +)
            let values = [("train", record.train), ("test", record.test)].flatMap { split, losses in
                losses.parts.map { scalar("\(split)/\($0.0)", $0.1) }
            }
            events.append(event(wall: wall, step: Int64(record.epoch)) { $0.summary.value = values })
        }
        let finished = r.run.timing.flatMap { parseDate($0.finishedAt) } ?? start
        let last = Int64(r.metrics.epochs.last?.epoch ?? 0)
        let finals = r.metrics.final.summaryValues.map { scalar("final/\($0.key)", $0.value) }
        events.append(event(wall: finished, step: last) { $0.summary.value = finals })
        return events
    }

    public static func file(_ r: StudyRun) throws -> [UInt8] {
        try events(r).flatMap { TFRecord.frame(try $0.serializedBytes()) }
    }

    /// The events of an event file; throws at a framing error or a payload that is not an `Event`.
    public static func read(_ file: [UInt8]) throws -> [Tensorboard_Event] {
        try TFRecord.payloads(file).map { try Tensorboard_Event(serializedBytes: $0) }
    }

    static func event(wall: Double, step: Int64, _ fill: (inout Tensorboard_Event) -> Void) -> Tensorboard_Event {
        var e = Tensorboard_Event()
        e.wallTime = wall
        e.step = step
        fill(&e)
        return e
    }

    static func scalar(_ tag: String, _ value: Double) -> Tensorboard_Summary.Value {
        var v = Tensorboard_Summary.Value()
        v.tag = tag
        v.simpleValue = Float(value)
        return v
    }

    /// A string tensor for the text plugin, which renders it as Markdown.
    static func text(_ tag: String, _ markdown: String) -> Tensorboard_Summary.Value {
        var v = Tensorboard_Summary.Value()
        v.tag = tag
        v.metadata.pluginData.pluginName = "text"
        v.metadata.dataClass = .tensor
        v.tensor.dtype = .dtString
        v.tensor.tensorShape = Tensorboard_TensorShapeProto()
        v.tensor.stringVal = [Data(markdown.utf8)]
        return v
    }

    /// "| field | value |" rows: the run id, its studies and every field config.json lists.
    static func configTable(_ r: StudyRun) -> String {
        var rows = [("run", r.run.id), ("studies", r.run.studies.joined(separator: ", ")), ("group", r.group)]
        rows += RunField.all.filter { $0.isWritten(for: r.run.config) }.map {
            ($0.key, $0.value(of: r.run.config).text)
        }
        return "| field | value |\n|---|---|\n"
            + rows.map { "| \($0.0) | \(Markdown.inline($0.1)) |" }.joined(separator: "\n")
    }

    static func parseDate(_ text: String) -> Double? {
        ISO8601DateFormatter().date(from: text)?.timeIntervalSince1970
    }
}
