package device

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/openkassa/kassa/device/cloud"
)

// MetricsHandler serves what a fleet operator scrapes: GET /healthz, the
// register's health as JSON with 200 when it takes documents and 503 with the
// problems when it does not; and GET /metrics, the same health as Prometheus
// text, with the Go runtime's and the process's own figures. Every scrape
// reads the health afresh (one exchange with the drive), so a scrape every
// 15 s or more is right; the runtime keeps no metrics state of its own.
//
// The text is written with github.com/VictoriaMetrics/metrics: a small module
// (no dependencies beyond two small ones of its author's) that writes the
// format and knows the Go runtime's and /proc's figures by their usual names
// (go_*, process_*), where prometheus/client_golang brings protobuf along.
func (r *Runtime) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", r.serveHealthz)
	mux.HandleFunc("GET /metrics", r.serveMetrics)
	return mux
}

// healthz is /healthz's body.
type healthz struct {
	OK       bool         `json:"ok"`
	Problems []string     `json:"problems,omitempty"`
	Health   cloud.Health `json:"health"`
}

// problems are why a register with this health takes no documents, or is
// about to fail to.
func problems(h cloud.Health) []string {
	var p []string
	if h.Stopped && !h.RemoteMode {
		p = append(p, "stopped: "+h.StopReason)
	}
	if h.Drive.Error != "" {
		p = append(p, "drive: "+h.Drive.Error)
	}
	if h.DiskFull != "" {
		p = append(p, "disk: "+h.DiskFull)
	}
	return p
}

func (r *Runtime) serveHealthz(w http.ResponseWriter, req *http.Request) {
	h := r.Health(req.Context())
	body := healthz{Problems: problems(h), Health: h}
	body.OK = len(body.Problems) == 0
	w.Header().Set("Content-Type", "application/json")
	if !body.OK {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	json.NewEncoder(w).Encode(body)
}

func (r *Runtime) serveMetrics(w http.ResponseWriter, req *http.Request) {
	h := r.Health(req.Context())
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	var b strings.Builder
	writeHealthMetrics(&b, h, r.pulse.stalled())
	metrics.WriteProcessMetrics(&b)
	io.WriteString(w, b.String())
}

// stalled is how long the pipeline loop has been busy without moving a
// document; 0 while it waits for work or moves.
func (p *pulse) stalled() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.busy {
		return 0
	}
	return time.Since(p.since)
}

// writeHealthMetrics writes the health as gauges, each with its HELP and TYPE.
func writeHealthMetrics(w io.Writer, h cloud.Health, stalled time.Duration) {
	gauge := func(name, help string, v float64) {
		family, _, _ := strings.Cut(name, "{")
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n", family, help, family)
		metrics.WriteGaugeFloat64(w, name, v)
	}
	ageSince := func(t time.Time) float64 {
		if t.IsZero() || h.At.Before(t) {
			return 0
		}
		return h.At.Sub(t).Seconds()
	}
	gauge(`kassa_build_info{version="`+labelValue(h.Version)+`"}`, "The firmware's version, as a label.", 1)
	gauge("kassa_cloud_reachable", "1 when the last exchange with the cloud succeeded.", flag(h.CloudReachable))
	gauge("kassa_ofd_reachable", "1 when the last exchange with the OFD succeeded.", flag(h.OFDReachable))
	gauge("kassa_documents_waiting_for_drive", "Documents taken from the cloud and not yet signed by the drive.", float64(h.WaitingForDrive))
	gauge("kassa_documents_waiting_for_ofd", "Fiscal documents the drive holds that the OFD has not acknowledged.", float64(h.WaitingForOFD))
	gauge("kassa_ofd_oldest_unsent_age_seconds", "Age of the oldest document the OFD has not acknowledged; 0 when none (the drive stops at 30 days).", ageSince(h.OldestUnsentAt))
	gauge("kassa_ofd_acked_through_fd", "The last fiscal document number the OFD has acknowledged, with all before it.", float64(h.OFDAckedThrough))
	gauge("kassa_shift_open", "1 while a shift is open.", flag(h.ShiftOpen))
	gauge("kassa_shift_number", "The number of the current or last shift.", float64(h.ShiftNumber))
	gauge("kassa_shift_age_seconds", "Age of the open shift; 0 when closed (the drive refuses receipts at 24 h).", ageSince(h.ShiftOpenedAt))
	gauge("kassa_drive_ok", "1 when the drive answers without error.", flag(h.Drive.Error == ""))
	if h.Drive.Phase != "" {
		gauge(`kassa_drive_phase{phase="`+labelValue(h.Drive.Phase)+`"}`, "The drive's life phase, as a label.", 1)
	}
	gauge("kassa_drive_last_fd", "The drive's last fiscal document number.", float64(h.Drive.LastFD))
	gauge("kassa_drive_warnings", "Warnings the drive raises (resource, memory, key, OFD backlog).", float64(len(h.Drive.Warnings)))
	if !h.Drive.ValidUntil.IsZero() {
		gauge("kassa_drive_valid_until_seconds", "When the drive's key ends, Unix time.", float64(h.Drive.ValidUntil.Unix()))
	}
	present := h.Printer.State != "none" && h.Printer.State != ""
	gauge("kassa_printer_present", "1 when the register has a printer.", flag(present))
	gauge("kassa_printer_ready", "1 when the printer can print now.", flag(h.Printer.State == "ready"))
	gauge("kassa_printer_paper_out", "1 when the printer is out of paper.", flag(h.Printer.Paper == "out"))
	gauge("kassa_printer_paper_near_end", "1 when the printer's paper is near its end.", flag(h.Printer.Paper == "near end"))
	gauge("kassa_printer_cover_open", "1 while the printer's cover is open.", flag(h.Printer.CoverOpen))
	gauge("kassa_stopped", "1 while the register takes no documents (kassa resume lifts it).", flag(h.Stopped && !h.RemoteMode))
	gauge("kassa_remote_mode", "1 in remote-fiscalization mode (no stop policy).", flag(h.RemoteMode))
	gauge("kassa_disk_full", "1 when the register's disk is too full to take documents.", flag(h.DiskFull != ""))
	gauge("kassa_pipeline_stalled_seconds", "How long the pipeline has been busy without moving a document; 0 while it waits or moves.", stalled.Seconds())
}

func flag(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// labelValue escapes a label's value for the text format.
func labelValue(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}
