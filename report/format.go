package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"vcbench/workload"
)

// scale picks a display unit for values of a base unit whose typical
// magnitude is v, and returns the divisor and its label.
func scale(unit workload.Unit, v float64) (div float64, label string) {
	v = math.Abs(v)
	switch unit {
	case workload.UnitSeconds:
		switch {
		case v == 0 || v >= 1:
			return 1, "s"
		case v >= 1e-3:
			return 1e-3, "ms"
		case v >= 1e-6:
			return 1e-6, "µs"
		default:
			return 1e-9, "ns"
		}
	case workload.UnitBytes:
		switch {
		case v >= 1<<30:
			return 1 << 30, "GiB"
		case v >= 1<<20:
			return 1 << 20, "MiB"
		case v >= 1<<10:
			return 1 << 10, "KiB"
		default:
			return 1, "B"
		}
	case workload.UnitBytesPerSecond:
		switch {
		case v >= 1<<30:
			return 1 << 30, "GiB/s"
		case v >= 1<<20:
			return 1 << 20, "MiB/s"
		case v >= 1<<10:
			return 1 << 10, "KiB/s"
		default:
			return 1, "B/s"
		}
	case workload.UnitOpsPerSecond:
		switch {
		case v >= 1e9:
			return 1e9, "G ops/s"
		case v >= 1e6:
			return 1e6, "M ops/s"
		case v >= 1e3:
			return 1e3, "k ops/s"
		default:
			return 1, "ops/s"
		}
	}
	return 1, string(unit)
}

// formatValue prints v in a readable unit with three significant digits.
func formatValue(unit workload.Unit, v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	div, label := scale(unit, v)
	return sig3(v/div) + " " + label
}

// sig3 prints x with three significant digits and no exponent for the
// ranges a report shows.
func sig3(x float64) string {
	a := math.Abs(x)
	switch {
	case a == 0:
		return "0"
	case a >= 100:
		return fmt.Sprintf("%.0f", x)
	case a >= 10:
		return fmt.Sprintf("%.1f", x)
	case a >= 1:
		return fmt.Sprintf("%.2f", x)
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 3, 64), 64)
	return strconv.FormatFloat(r, 'f', -1, 64)
}

// formatRatio prints a ratio such as 0.98× or 12.3×.
func formatRatio(r float64) string {
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return "—"
	}
	return sig3(r) + "×"
}

// shortUnit is the unit label used in chart file names and headings.
func shortUnit(unit workload.Unit) string {
	switch unit {
	case workload.UnitSeconds:
		return "time"
	case workload.UnitBytes:
		return "bytes"
	case workload.UnitBytesPerSecond:
		return "throughput"
	case workload.UnitOpsPerSecond:
		return "rate"
	}
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(string(unit)))
}
