# report.awk -- prints the tables of bench/run.sh from its results file (tab-separated):
#   ds fam n engine events median min checksum stable hits rss_eng_kb rss_peak_kb rbc_bytes
#   compile_ms ir_per_event cg_events extra
# where extra is, for engine routec, the events that were not ROUTE_OK and, for the
# baselines (jansson, simdjson, jq), routec's checksum on the same events.

function rate(x) {
	if (x == "" || x == "-") return "-"
	if (x >= 1e6) return sprintf("%.2f M", x / 1e6)
	if (x >= 1e3) return sprintf("%.1f k", x / 1e3)
	return sprintf("%.0f", x)
}
function mb(kb) { return kb == "-" || kb == "" ? "-" : sprintf("%.1f MB", kb / 1024) }
function ms(x) { return x == "-" || x == "" ? "-" : (x < 1000 ? sprintf("%.1f ms", x) : sprintf("%.3f s", x / 1000)) }
function ratio(a, b) { return (a == "" || b == "" || a == "-" || b == "-" || b == 0) ? "-" : sprintf("%.2fx", a / b) }
function key(ds, f, n) { return ds SUBSEP f SUBSEP n }
function verdict(ok, by) { return ok ? "met" : "MISSED" (by != "" ? " (" by ")" : "") }

{
	k = key($1, $2, $3)
	if ($4 == "routec") {
		nsets++; order[nsets] = k
		R_ds[k] = $1; R_f[k] = $2; R_n[k] = $3; R_ev[k] = $5; R_med[k] = $6; R_min[k] = $7
		R_ck[k] = $8; R_st[k] = $9; R_hits[k] = $10; R_rss[k] = $11; R_peak[k] = $12; R_rbc[k] = $13
		R_cms[k] = $14; R_ir[k] = $15; R_cg[k] = $16; R_bad[k] = $17
	} else {
		nb++; B[nb] = $0
		B_med[$4, k] = $6
		if ($4 == "jansson") { J_med[k] = $6; J_ok[k] = ($8 == $17) }
	}
}

END {
	status = 0
	printf "Matching throughput, libroute route_match() (shared index per event type, then the candidate and residual rules)\n"
	printf "  events = events per pass (all of them for small sets; fewer for big slow sets: see README)\n"
	printf "  hit%% = events matching >= 1 rule; checksum = (event, rule) matches per pass, identical in every pass\n"
	printf "  Ir/ev = callgrind instructions per event on the first 'slice' events; RSS eng = program + matcher\n"
	printf "  vs10 = median / median at 10 rules; /floor = median / simdjson floor; /jansson = median / jansson DOM\n\n"
	hdr = sprintf("%-8s %-8s %6s %7s %10s %10s %6s %11s %9s %6s %8s %9s %7s %9s %6s %7s %8s", "dataset", "family",
		"rules", "events", "median/s", "min/s", "hit%", "checksum", "Ir/ev", "slice", "RSS eng", "peak RSS",
		"B/rule", "compile", "vs10", "/floor", "/jansson")
	print hdr
	for (i = 1; i <= nsets; i++) {
		k = order[i]
		ds = R_ds[k]; f = R_f[k]; n = R_n[k]
		if (i > 1 && (ds != R_ds[order[i - 1]] || f != R_f[order[i - 1]])) print ""
		k10 = key(ds, f, 10)
		vs10 = (k10 in R_med) ? ratio(R_med[k], R_med[k10]) : "-"
		fl = "-"
		if (n <= 10) {
			fk = key(ds, f == "range" ? "range" : "exact", 1)
			if (("simdjson", fk) in B_med) fl = ratio(R_med[k], B_med["simdjson", fk])
		}
		jr = (k in J_med) ? ratio(R_med[k], J_med[k]) (J_ok[k] ? "" : "!") : "-"
		if ((k in J_ok) && !J_ok[k]) status = 1
		ck = R_ck[k] (R_st[k] == 1 ? "" : "!")
		if (R_st[k] != 1 || R_bad[k] != 0) status = 1
		printf "%-8s %-8s %6d %7d %10s %10s %5.1f%% %11s %9s %6s %8s %9s %7.0f %9s %6s %7s %8s\n", ds, f, n, R_ev[k],
			rate(R_med[k]), rate(R_min[k]), 100 * R_hits[k] / R_ev[k], ck, R_ir[k], R_cg[k], mb(R_rss[k]),
			mb(R_peak[k]), R_rbc[k] / n, ms(R_cms[k]), vs10, fl, jr
	}
	printf "\n  '!' after a checksum: it changed between passes, or differs from the baseline's on the same events.\n"

	printf "\nBaselines (same events, same CPU)\n"
	printf "%-9s %-8s %-8s %6s %8s %10s %10s %9s %14s %12s\n", "engine", "dataset", "family", "rules", "events",
		"median/s", "min/s", "checksum", "routec's same", "routec / it"
	for (i = 1; i <= nb; i++) {
		split(B[i], c, "\t")
		k = key(c[1], c[2], c[3])
		if (c[4] == "jansson") continue
		same = c[8] == c[17] ? "ok" : "MISMATCH " c[17]
		if (c[8] != c[17]) status = 1
		printf "%-9s %-8s %-8s %6d %8d %10s %10s %9s %14s %12s\n", c[4], c[1], c[2], c[3], c[5], rate(c[6]),
			rate(c[7]), c[8], same, ratio(R_med[k], c[6])
	}
	printf "%-9s %-8s %-8s %6s %8s %10s %10s %9s %14s %12s\n", "jansson", "(all)", "", "", "", "", "", "",
		"see /jansson", "above"
	jn = 0
	for (k in J_med) { jn++; jok += J_ok[k] }
	printf "  jansson ran on %d sets (up to 20,000 events each); checksums equal to routec's on the same events: %d of %d\n", jn, jok, jn

	# ---- targets (issue 4), citylots-shaped events ----
	printf "\nTargets of issue 4 (citylots-shaped events, one core)\n"
	printf "%-62s %-16s %s\n", "target", "measured", "verdict"
	c5 = key("citylots", "exact", 5)
	if (c5 in R_med)
		printf "%-62s %-16s %s\n", "5 exact rules >= 1.5 M events/s", rate(R_med[c5]),
			verdict(R_med[c5] >= 1.5e6, sprintf("%.2fx of target", R_med[c5] / 1.5e6))
	nfam = split("exact prefix suffix ieq like range anybut contains mix", fams, " ")
	for (j = 1; j <= nfam; j++) {
		k = key("citylots", fams[j], 5)
		if (!(k in R_med)) continue
		printf "%-62s %-16s %s\n", "5-rule " fams[j] " >= 1 M events/s", rate(R_med[k]),
			verdict(R_med[k] >= 1e6, sprintf("%.2fx of target", R_med[k] / 1e6))
	}
	k = key("citylots", "regex", 5)
	if (k in R_med) printf "%-62s %-16s %s\n", "5-rule regex (no target)", rate(R_med[k]), "-"
	k10 = key("citylots", "exact", 10)
	split("10000 100000", big, " "); need[10000] = 0.7; need[100000] = 0.5; qm[10000] = "0.26x"; qm[100000] = "0.14x"
	for (j = 1; j <= 2; j++) {
		k = key("citylots", "exact", big[j])
		if (!(k in R_med) || !(k10 in R_med)) continue
		r = R_med[k] / R_med[k10]
		printf "%-62s %-16s %s\n", sprintf("%dk equality rules keep >= %.1fx of 10 rules (quamina %s)", big[j] / 1000,
			need[big[j]], qm[big[j]]), sprintf("%.4fx", r), verdict(r >= need[big[j]], sprintf("%.4fx of target", r / need[big[j]]))
	}
	k = key("citylots", "contains", 1000)
	if (k in R_med)
		printf "%-62s %-16s %s\n", "1k contains rules >= 1 M events/s", rate(R_med[k]),
			verdict(R_med[k] >= 1e6, sprintf("%.4fx of target", R_med[k] / 1e6))
	fk = key("citylots", "exact", 1)
	if (("simdjson", fk) in B_med) {
		split("1 5 10", sm, " ")
		for (j = 1; j <= 3; j++) {
			k = key("citylots", "exact", sm[j])
			if (!(k in R_med)) continue
			r = R_med[k] / B_med["simdjson", fk]
			printf "%-62s %-16s %s\n", sprintf(">= 0.35x simdjson on-demand floor (%d exact rule%s)", sm[j], sm[j] > 1 ? "s" : ""),
				sprintf("%.3fx", r), verdict(r >= 0.35, sprintf("%.2fx of target", r / 0.35))
		}
	}
	if (("jq", fk) in B_med && (fk in R_med)) {
		r = R_med[fk] / B_med["jq", fk]
		printf "%-62s %-16s %s\n", ">= 30x jq on the same exact-match rule", sprintf("%.1fx", r),
			verdict(r >= 30, sprintf("%.2fx of target", r / 30))
	}
	split("10000 100000", big, " "); lim[10000] = 100; lim[100000] = 1500
	for (j = 1; j <= 2; j++) {
		k = key("citylots", "exact", big[j])
		if (!(k in R_cms)) continue
		printf "%-62s %-16s %s\n", sprintf("compile %dk rules <= %s (exact family, wall)", big[j] / 1000, ms(lim[big[j]])),
			ms(R_cms[k]), verdict(R_cms[k] <= lim[big[j]], sprintf("%.2fx of target", R_cms[k] / lim[big[j]]))
		worst = 0; wf = ""
		for (kk in R_cms) if (R_ds[kk] == "citylots" && R_n[kk] == big[j] && R_cms[kk] > worst) { worst = R_cms[kk]; wf = R_f[kk] }
		if (wf != "exact" && wf != "")
			printf "%-62s %-16s %s\n", sprintf("compile %dk rules <= %s (slowest family: %s)", big[j] / 1000, ms(lim[big[j]]), wf),
				ms(worst), verdict(worst <= lim[big[j]], sprintf("%.2fx of target", worst / lim[big[j]]))
	}
	# ---- issue 5: temporal rules over 1,000 keys, against the stateless exact rule ----
	split("window rate sequence", tf, " ")
	for (j = 1; j <= 3; j++) {
		k = key("citylots", tf[j], 1)
		if (!(k in R_med)) continue
		printf "%-62s %-16s %s\n", sprintf("issue 5: %s rule over 1,000 keys >= 1 M events/s", tf[j]), rate(R_med[k]),
			verdict(R_med[k] >= 1e6, sprintf("%.2fx of target", R_med[k] / 1e6))
		if (fk in R_med) {
			r = R_med[k] / R_med[fk]
			printf "%-62s %-16s %s\n", sprintf("issue 5: %s rule >= 0.5x the stateless exact rule", tf[j]),
				sprintf("%.2fx", r), verdict(r >= 0.5, sprintf("%.2fx of target", r / 0.5))
		}
	}
	k = key("citylots", "exact", 100000)
	if (k in R_rbc)
		printf "%-62s %-16s %s\n", "<= 1,000 bytes per rule at 100k rules (.rbc size / rules)", sprintf("%.0f B", R_rbc[k] / 100000),
			verdict(R_rbc[k] / 100000 <= 1000, "")
	printf "\nTotal time %d s. Exit status %d (1: a checksum differed between passes or engines, or an event was refused).\n", secs, status
	exit status
}
