/// "1 run", "2 runs", "1 study", "3 studies": a count and its noun, singular for one.
public func counted(_ n: Int, _ singular: String, _ plural: String? = nil) -> String {
    "\(n) " + (n == 1 ? singular : plural ?? singular + "s")
}
