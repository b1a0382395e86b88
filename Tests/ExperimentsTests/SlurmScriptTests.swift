import Experiments
import Foundation
import Testing
import Training

@Suite("Slurm job scripts")
struct SlurmScriptTests {
    static let plan = SlurmPlan(
        submission: "20261204-120000-42", results: "/shared/results", report: "/shared/report",
        dataDirectories: ["mnist": "/shared/data/mnist"], createdAt: "2026-12-04T12:00:00Z",
        runs: (0..<3).map { seed in
            var c = RunConfig()
            c.seed = UInt64(seed)
            return SlurmPlan.Run(id: c.runID(dataFingerprint: "f"), config: c, studies: ["reference"])
        }, dataFingerprints: ["mnist": "f"], options: SlurmOptions())

    static let directory = "/shared/results/slurm/20261204-120000-42"

    @Test func arrayScriptIsTheGoldenOne() {
        var options = SlurmOptions()
        (options.partition, options.time, options.maxParallel, options.mem) = ("cpu", "2:00:00", 2, "4G")
        options.extra = ["--constraint=avx512"]
        let script = SlurmScripts.array(Self.plan, directory: Self.directory, binary: "/opt/vaelab", options: options)
        #expect(
            script == """
                #!/bin/bash
                # Written by `vaelab slurm submit`: 3 run(s); task i trains runs[i] of plan.json.
                #SBATCH --job-name=vaelab-20261204-120000-42
                #SBATCH --array=0-2%2
                #SBATCH --output=/shared/results/slurm/20261204-120000-42/logs/task-%a.log
                #SBATCH --signal=B:USR1@120
                #SBATCH --ntasks=1
                #SBATCH --cpus-per-task=1
                #SBATCH --requeue
                #SBATCH --open-mode=append
                #SBATCH --partition=cpu
                #SBATCH --time=2:00:00
                #SBATCH --mem=4G
                #SBATCH --constraint=avx512
                set -u
                exec '/opt/vaelab' slurm task '/shared/results/slurm/20261204-120000-42'

                """)
    }

    @Test func reportScriptIsTheGoldenOne() {
        let script = SlurmScripts.report(
            Self.plan, directory: Self.directory, binary: "/opt/it's/vaelab", options: SlurmOptions())
        #expect(
            script == """
                #!/bin/bash
                # Written by `vaelab slurm submit`: summary and report, after the array job (--dependency=afterany).
                #SBATCH --job-name=vaelab-20261204-120000-42-report
                #SBATCH --output=/shared/results/slurm/20261204-120000-42/logs/report.log
                #SBATCH --ntasks=1
                #SBATCH --requeue
                #SBATCH --open-mode=append
                set -u
                exec '/opt/it'\\''s/vaelab' slurm finish '/shared/results/slurm/20261204-120000-42'

                """)
    }

    @Test func thePlanRoundTripsAndKeepsItsOrder() throws {
        let data = try JSONEncoder().encode(Self.plan)
        let back = try JSONDecoder().decode(SlurmPlan.self, from: data)
        #expect(back.runs.map(\.id) == Self.plan.runs.map(\.id))
        #expect(back.runs.map(\.config) == Self.plan.runs.map(\.config))
        #expect(back.dataDirectories == ["mnist": "/shared/data/mnist"])
    }

    @Test(arguments: [
        ("time", "1:2:3:4"), ("mem", "4 G"), ("partition", ""), ("qos", "a'b"), ("max", "0"), ("cpus", "0"),
    ])
    func badOptionsAreNamed(_ which: String, _ value: String) {
        var o = SlurmOptions()
        switch which {
        case "time": o.time = value
        case "mem": o.mem = value
        case "partition": o.partition = value
        case "qos": o.qos = value
        case "max": o.maxParallel = Int(value)
        default: o.cpusPerTask = Int(value)!
        }
        let flag = ["max": "max-parallel", "cpus": "cpus-per-task"][which] ?? which
        #expect(o.problem()?.hasPrefix("--\(flag): expected") == true, "\(o.problem() ?? "accepted")")
    }
}
