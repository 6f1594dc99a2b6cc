package report

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"vcbench/internal/testenv"
)

// connRecorder is a TCP listener that accepts and records every
// connection: chromium is pointed at it as its proxy, so any network
// request the page (or the browser) makes shows up here.
type connRecorder struct {
	ln    net.Listener
	mu    sync.Mutex
	first []string
	n     int
}

func newConnRecorder(t *testing.T) *connRecorder {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &connRecorder{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			buf := make([]byte, 512)
			n, _ := c.Read(buf)
			c.Close()
			line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
			r.mu.Lock()
			r.n++
			r.first = append(r.first, line)
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return r
}

func (r *connRecorder) requests() (int, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n, append([]string(nil), r.first...)
}

// cdp is a minimal Chrome DevTools Protocol client over
// --remote-debugging-pipe (fd 3: commands in, fd 4: replies and events
// out, messages separated by NUL).
type cdp struct {
	w      *os.File
	r      *bufio.Reader
	id     int
	events []map[string]any
}

func (c *cdp) call(session, method string, params map[string]any) (map[string]any, error) {
	c.id++
	msg := map[string]any{"id": c.id, "method": method, "params": params}
	if session != "" {
		msg["sessionId"] = session
	}
	b, _ := json.Marshal(msg)
	if _, err := c.w.Write(append(b, 0)); err != nil {
		return nil, fmt.Errorf("cdp %s: %w", method, err)
	}
	for {
		m, err := c.next()
		if err != nil {
			return nil, fmt.Errorf("cdp %s: %w", method, err)
		}
		if id, ok := m["id"].(float64); ok && int(id) == c.id {
			if e, ok := m["error"]; ok {
				return nil, fmt.Errorf("cdp %s: %v", method, e)
			}
			res, _ := m["result"].(map[string]any)
			return res, nil
		}
		c.events = append(c.events, m)
	}
}

func (c *cdp) next() (map[string]any, error) {
	b, err := c.r.ReadBytes(0)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b[:len(b)-1], &m); err != nil {
		return nil, err
	}
	return m, nil
}

// waitEvent reads until an event with this method arrives.
func (c *cdp) waitEvent(method string) error {
	for _, e := range c.events {
		if e["method"] == method {
			return nil
		}
	}
	for {
		m, err := c.next()
		if err != nil {
			return fmt.Errorf("wait for %s: %w", method, err)
		}
		c.events = append(c.events, m)
		if m["method"] == method {
			return nil
		}
	}
}

// browse opens url in headless Chromium (fresh profile, proxy pointing at
// rec, hard timeout), and returns the page's network requests, the DOM
// check script's answer and a PNG screenshot.
func browse(t *testing.T, bin string, rec *connRecorder, url, script string) (requests []string, result string, png []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--no-first-run", "--disable-quic", "--disable-default-apps", "--disable-extensions",
		"--no-pings", "--disable-domain-reliability", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir(),
		"--proxy-server=http://" + rec.ln.Addr().String(),
		"--proxy-bypass-list=<-loopback>",
		"--remote-debugging-pipe", "about:blank",
	}
	cmdIn, toChrome, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	fromChrome, cmdOut, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.ExtraFiles = []*os.File{cmdIn, cmdOut} // fd 3, fd 4
	cmd.WaitDelay = 5 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	cmdIn.Close()
	cmdOut.Close()
	defer func() {
		toChrome.Close()
		cmd.Process.Kill()
		cmd.Wait()
		fromChrome.Close()
	}()
	go func() { <-ctx.Done(); fromChrome.Close() }() // unblocks reads on timeout
	c := &cdp{w: toChrome, r: bufio.NewReader(fromChrome)}
	fail := func(err error) {
		t.Helper()
		if ctx.Err() != nil {
			t.Fatalf("chromium timed out: %v; stderr:\n%s", err, stderr.String())
		}
		t.Fatalf("%v; stderr:\n%s", err, stderr.String())
	}
	tg, err := c.call("", "Target.createTarget", map[string]any{"url": "about:blank"})
	if err != nil {
		fail(err)
	}
	at, err := c.call("", "Target.attachToTarget", map[string]any{"targetId": tg["targetId"], "flatten": true})
	if err != nil {
		fail(err)
	}
	sess, _ := at["sessionId"].(string)
	for _, m := range []string{"Network.enable", "Page.enable"} {
		if _, err := c.call(sess, m, map[string]any{}); err != nil {
			fail(err)
		}
	}
	if _, err := c.call(sess, "Emulation.setDeviceMetricsOverride", map[string]any{"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}); err != nil {
		fail(err)
	}
	c.events = nil
	if _, err := c.call(sess, "Page.navigate", map[string]any{"url": url}); err != nil {
		fail(err)
	}
	if err := c.waitEvent("Page.loadEventFired"); err != nil {
		fail(err)
	}
	ev, err := c.call(sess, "Runtime.evaluate", map[string]any{"expression": script, "returnByValue": true})
	if err != nil {
		fail(err)
	}
	if r, ok := ev["result"].(map[string]any); ok {
		result, _ = r["value"].(string)
	}
	shot, err := c.call(sess, "Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true})
	if err != nil {
		fail(err)
	}
	png, _ = base64.StdEncoding.DecodeString(fmt.Sprint(shot["data"]))
	for _, e := range c.events {
		if e["method"] != "Network.requestWillBeSent" {
			continue
		}
		p, _ := e["params"].(map[string]any)
		req, _ := p["request"].(map[string]any)
		u := fmt.Sprint(req["url"])
		if u == url || strings.HasPrefix(u, "data:") {
			continue
		}
		requests = append(requests, u)
	}
	return requests, result, png
}

// domCheck opens every collapsible group, then reports, per chart figure,
// its SVGs, filled shapes and width, the ids of the banners and sections,
// and how wide the page is (no horizontal scroll at 1280 px), as one JSON
// string.
const domCheck = `document.querySelectorAll("details").forEach(d => d.open = true);
JSON.stringify({
  scrollWidth: document.documentElement.scrollWidth,
  charts: [...document.querySelectorAll("figure.chart-figure")].map(f => ({
    id: f.id,
    svgs: f.querySelectorAll("svg").length,
    filled: [...f.querySelectorAll("svg path")].filter(p => { const c = getComputedStyle(p).fill; return c && c !== "none" && c !== "rgb(255, 255, 255)"; }).length,
    width: f.querySelector("svg") ? f.querySelector("svg").getBoundingClientRect().width : 0,
  })),
  ids: ["findings", "chart-overview", "failures", "warnings", "tcg-banner", "details", "summary-startup", "ratios-cpu", "density", "views", "environment"].filter(id => document.getElementById(id)),
})`

// TestBrowserRendersOffline opens index.html from file:// in headless
// Chromium, checks from the DOM that every chart rendered with bars, boxes
// or line markers, takes a screenshot (kept in $VCBENCH_ARTIFACTS if set)
// and checks that no network request was made. It does so for a regular
// run and for a density sweep.
func TestBrowserRendersOffline(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	bin, err := exec.LookPath("chromium")
	if err != nil {
		testenv.Require(t, "chromium not installed (Debian package chromium): skipping the browser test")
	}
	art := os.Getenv("VCBENCH_ARTIFACTS")
	if art == "" {
		art = t.TempDir()
	}
	tests := []struct {
		fixture, out, lang string
		ids                []string // banner and table ids the page must have
	}{
		{"run-a", "report", LangEnglish, []string{"findings", "chart-overview", "failures", "warnings", "tcg-banner", "details", "summary-startup", "ratios-cpu", "views", "environment"}},
		{"run-fail", "report-fail", LangEnglish, []string{"findings", "chart-overview", "failures", "warnings", "tcg-banner", "details", "summary-startup", "ratios-cpu", "views", "environment"}},
		{"density", "report-density", LangEnglish, []string{"findings", "warnings", "tcg-banner", "details", "density", "environment"}},
		// Korean all the way: the charts' text is Hangul outlines.
		{"run-fail", "report-fail-ko", LangKorean, []string{"findings", "chart-overview", "failures", "warnings", "tcg-banner", "details", "summary-startup", "ratios-cpu", "views", "environment"}},
	}
	for _, tc := range tests {
		t.Run(tc.out, func(t *testing.T) {
			if _, err := loadHangulFont(DefaultHangulFont); err != nil && tc.lang == LangKorean {
				testenv.Require(t, "no Hangul font (Debian package fonts-nanum): %v", err)
			}
			browserCheck(t, bin, art, tc.fixture, tc.out, tc.lang, tc.ids)
		})
	}
}

func browserCheck(t *testing.T, bin, art, fixture, outName, lang string, wantIDs []string) {
	out := filepath.Join(art, outName)
	index, err := Write(readRun(t, fixture), out, Options{Lang: lang})
	if err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(index)
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(abs)
	if err != nil {
		t.Fatal(err)
	}
	// Static check: nothing in the page refers to another resource (links
	// to an anchor in the page itself, href="#...", are all it may have).
	if m := regexp.MustCompile(`(?i)src\s*=|href\s*=\s*(["']?[^"'#\s]|["']?$)|url\(|@import|<script|<link`).Find(page); m != nil {
		t.Errorf("index.html refers to an external resource: %q", m)
	}
	charts, err := filepath.Glob(filepath.Join(out, "charts", "*.svg"))
	if err != nil || len(charts) == 0 {
		t.Fatalf("no charts written: %v", err)
	}

	rec := newConnRecorder(t)
	requests, result, png := browse(t, bin, rec, "file://"+abs, domCheck)
	shot := filepath.Join(art, outName+"-screenshot.png")
	if len(png) == 0 {
		t.Error("no screenshot")
	} else if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Error(err)
	} else {
		t.Logf("screenshot: %s", shot)
	}
	var got struct {
		ScrollWidth float64
		Charts      []struct {
			ID     string
			Svgs   int
			Filled int
			Width  float64
		}
		IDs []string
	}
	if err := json.Unmarshal([]byte(result), &got); err != nil {
		t.Fatalf("DOM check answer %q: %v", result, err)
	}
	if len(got.Charts) != len(charts) {
		t.Errorf("DOM has %d chart figures, %d charts were written", len(got.Charts), len(charts))
	}
	for _, c := range got.Charts {
		// Every chart has at least one bar, box or segment per series.
		if c.Svgs != 1 || c.Filled < 4 || c.Width < 300 {
			t.Errorf("chart %s did not render: %d svg, %d filled shapes, %.0f px wide", c.ID, c.Svgs, c.Filled, c.Width)
		}
	}
	if got.ScrollWidth > 1280 {
		t.Errorf("the page is %.0f px wide at a 1280 px window: it scrolls sideways", got.ScrollWidth)
	}
	if strings.Join(got.IDs, " ") != strings.Join(wantIDs, " ") {
		t.Errorf("DOM has banner and tables %v, want %v", got.IDs, wantIDs)
	}
	if len(requests) > 0 {
		t.Errorf("the page made %d request(s): %q", len(requests), requests)
	}
	// The proxy sees the browser's own background traffic too (component
	// updates, time sync); the page's requests were checked above.
	if n, first := rec.requests(); n > 0 {
		t.Logf("browser background connections (not from the page): %d %q", n, first)
		for _, f := range first {
			if strings.Contains(f, "fonts.") || strings.Contains(f, "cdn") {
				t.Errorf("a connection looks like a page resource: %q", f)
			}
		}
	}
}
