//go:build linux

// The cloud as a fleet, as processes: two kassa cloud nodes on one
// PostgreSQL database, a load balancer in front of them, and a real register
// (kassa run with its emulated drive) behind the balancer. The tests post to
// either node and read what the drive signed.
package nodes

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/server/storage/pgstore/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// fleet is what the subtests share.
type fleet struct {
	top      *testing.T // the processes of the whole test are its
	bin      string
	dsn      string
	a, b     *cloudNode
	lb       *balancer
	reg      *registerProc
	shop     *shop
	cab      *cabinet
	started  time.Time
	docsMu   sync.Mutex
	docs     map[string]int // every document posted → its fnDocNumber once COMPLETED (0 before)
	idPrefix string
}

// posted records ids the test posted, for the drive's check at the end.
func (f *fleet) posted(ids ...string) {
	f.docsMu.Lock()
	defer f.docsMu.Unlock()
	for _, id := range ids {
		if _, ok := f.docs[id]; !ok {
			f.docs[id] = 0
		}
	}
}

// completed records the fnDocNumbers of completed documents and fails t if
// two documents have one.
func (f *fleet) completed(t *testing.T, sts map[string]cloud.DocumentStatus) {
	t.Helper()
	f.docsMu.Lock()
	defer f.docsMu.Unlock()
	for id, st := range sts {
		if st.FiscalInfo == nil || st.FiscalInfo.FNDocNumber <= 0 {
			t.Errorf("document %s COMPLETED without a fnDocNumber: %+v", id, st.FiscalInfo)
			continue
		}
		f.docs[id] = st.FiscalInfo.FNDocNumber
	}
	byFD := map[int][]string{}
	for id, fd := range f.docs {
		if fd > 0 {
			byFD[fd] = append(byFD[fd], id)
		}
	}
	for fd, ids := range byFD {
		if len(ids) > 1 {
			sort.Strings(ids)
			t.Errorf("FD %d is the fnDocNumber of %d documents: %v", fd, len(ids), ids)
		}
	}
}

func (f *fleet) id(name string) string { return f.idPrefix + name }

// death is a node's kill, for the diagnosis of documents left behind.
type death struct {
	node string
	at   time.Time
}

// awaitCompleted waits up to within for every one of ids to be COMPLETED,
// read from the node at base, records their fnDocNumbers, and fails t unless
// all are. A document left PENDING since before a node's death (d, if not
// nil) is named as a lease lost with it.
func (f *fleet) awaitCompleted(t *testing.T, base string, within time.Duration, d *death, ids ...string) map[string]cloud.DocumentStatus {
	t.Helper()
	sts, waiting := f.shop.awaitCompleted(t, base, within, ids...)
	f.completed(t, sts)
	if len(waiting) == 0 {
		return sts
	}
	var lines []string
	lost := 0
	for _, id := range ids {
		st, ok := waiting[id]
		if !ok {
			continue
		}
		line := fmt.Sprintf("%s %s: %s", id, st.Status, st.Message)
		if !st.TimeStatusChanged.IsZero() {
			line += " (since " + st.TimeStatusChanged.UTC().Format("15:04:05.000") + ")"
		}
		lines = append(lines, line)
		if d != nil && st.Status == cloud.Pending && !st.TimeStatusChanged.After(d.at) {
			lost++
		}
	}
	t.Errorf("%d of %d documents not COMPLETED within %v:\n  %s", len(waiting), len(ids), within, strings.Join(lines, "\n  "))
	if lost > 0 {
		t.Errorf("%d of them were leased before %s died at %s and are still PENDING: the lease's answer died with the node; "+
			"unless the register takes back its open leases (a resume lease) after a lease request that failed, they wait "+
			"until the lease ends (the cloud's LeaseFor, 2 min by default)",
			lost, d.node, d.at.UTC().Format("15:04:05.000"))
	}
	t.FailNow()
	return nil
}

// TestFleet runs the cloud as two nodes on one database behind a balancer,
// with a register long-polling through the balancer.
func TestFleet(t *testing.T) {
	bin := buildKassa(t)
	dsn := pgtest.DSN(t)
	f := &fleet{top: t, bin: bin, dsn: dsn, docs: map[string]int{}, started: time.Now(),
		idPrefix: fmt.Sprintf("nodes-%d-", time.Now().UnixNano()%1e9)}

	// Both nodes start at the same moment on the empty database: both
	// migrate it and both make the sandbox, of which one must win.
	var wg sync.WaitGroup
	nodes := make([]*cloudNode, 2)
	for i, name := range []string{"A", "B"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i] = startCloudQuiet(t, bin, name, dsn)
		}()
	}
	wg.Wait()
	if nodes[0] == nil || nodes[1] == nil {
		t.FailNow()
	}
	f.a, f.b = nodes[0], nodes[1]
	if !reflect.DeepEqual(f.a.creds.Sandbox, f.b.creds.Sandbox) {
		t.Fatalf("the nodes print different sandboxes on one database:\nA %+v\nB %+v", f.a.creds.Sandbox, f.b.creds.Sandbox)
	}
	if f.a.creds.RegisterToken == "" || f.a.creds.Login == "" {
		t.Fatalf("the sandbox has no register token or integration login: %+v", f.a.creds)
	}
	ra, rb := f.a.awaitReady(t), f.b.awaitReady(t)
	t.Logf("nodes A %s and B %s up %v after the start (readyz waited %v, %v)", f.a.url, f.b.url,
		time.Since(f.started).Round(time.Millisecond), ra.Round(time.Millisecond), rb.Round(time.Millisecond))

	f.lb = newBalancer(t, f.a.url, f.b.url)
	f.shop = newShop(f.a.creds.Login, f.a.creds.Password)

	regStart := time.Now()
	f.reg = startRegister(t, bin, f.lb.URL, f.a.creds.RegisterToken)
	h := f.reg.awaitReady(t)
	t.Logf("register up in %v: drive %s, registration %s, last FD %d", time.Since(regStart).Round(time.Millisecond),
		h.Drive.Number, h.Drive.RegNumber, h.Drive.LastFD)

	// The cabinet session made on A is in the shared store: B knows it.
	f.cab = loginCabinet(t, f.a.url, f.a.creds.CabinetLogin, f.a.creds.CabinetPassword)

	t.Run("register ready on B", f.readyOnB)
	t.Run("post to B, lease through A", f.postToB)
	t.Run("same id on both nodes at once", f.samePost)
	t.Run("callback once across nodes", f.callbackOnce)
	t.Run("kill -9 of node A under a stream", f.killA)
	t.Run("a node dies between a lease and its answer", f.leaseLost)
	t.Run("one receipt per document on the drive", f.driveReceipts)
	t.Logf("whole test %v", time.Since(f.started).Round(time.Millisecond))
}

// startCloudQuiet is startCloud for a goroutine other than the test's: it
// reports a failure with Errorf and returns nil.
func startCloudQuiet(t *testing.T, bin, name, dsn string) *cloudNode {
	n, err := launchCloud(t, bin, name, dsn)
	if err != nil {
		t.Error(err)
	}
	return n
}

// The register reports its health through A only; B reads it from the store
// and tells the shop the point is READY.
func (f *fleet) readyOnB(t *testing.T) {
	var last cloud.PointStatus
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		st, err := getJSON[cloud.PointStatus](f.shop, f.b.url+"/api/fn/v1/status")
		if err != nil {
			t.Fatal(err)
		}
		if last = st; st.Status == cloud.Ready {
			return
		}
	}
	t.Fatalf("B says the point is %s (%s), not READY, 30 s after the register started", last.Status, last.Message)
}

// A document posted to B reaches the register, which long-polls through A:
// B's post wakes A's waiting lease through the database.
func (f *fleet) postToB(t *testing.T) {
	id := f.id("b-to-a")
	f.posted(id)
	before := f.lb.dialsTo(t, f.b.url)
	posted := time.Now()
	st := f.shop.mustPost(t, f.b.url, docBody(id, nil))
	if st.Status != cloud.Queued {
		t.Fatalf("a new document is %s, want QUEUED", st.Status)
	}
	// Poll B every 10 ms for the moment the document leaves QUEUED: that is
	// the register's lease, made on A.
	var leased, completed time.Duration
	var final cloud.DocumentStatus
	var firstSeen cloud.DocState
	for deadline := posted.Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("document %s not COMPLETED within 30 s: %s %s", id, final.Status, final.Message)
		}
		_, s, err := f.shop.status(f.b.url, id)
		if err != nil {
			t.Fatal(err)
		}
		final = s
		if s.Status != cloud.Queued && leased == 0 {
			leased, firstSeen = time.Since(posted), s.Status
		}
		if s.Status == cloud.Failed {
			t.Fatalf("document %s FAILED: %s", id, s.Message)
		}
		if s.Status == cloud.Completed {
			completed = time.Since(posted)
			break
		}
	}
	f.completed(t, map[string]cloud.DocumentStatus{id: final})
	t.Logf("POST to B → out of QUEUED (leased through A; first seen %s, polling every 10 ms) %v, → COMPLETED %v; FD %d",
		firstSeen, leased.Round(time.Millisecond), completed.Round(time.Millisecond), final.FiscalInfo.FNDocNumber)
	if n := f.lb.dialsTo(t, f.b.url) - before; n != 0 {
		t.Errorf("the balancer connected to B %d times while A was up: the register did not work through A alone", n)
	}
}

// The same document posted to A and B at the same moment makes one document,
// fiscalized once; both posts answer 200.
//
// What could fail it: a store whose idempotency is a read then a write in
// separate steps lets both nodes find the id missing and both insert. With a
// unique key on (point, id) the loser's insert errs, and its post answers 500,
// not 200; without one, the database holds two documents of one id, which
// the cabinet's list (read from the store, whichever node) shows as two rows,
// and the register may lease both. A store that treated the second post as
// new content would answer 409. The drive's receipt count is the last check:
// it must grow by exactly one per id.
func (f *fleet) samePost(t *testing.T) {
	before := len(f.reg.receipts(t))
	const rounds = 5
	ids := make([]string, rounds)
	for i := range ids {
		ids[i] = f.id(fmt.Sprintf("same-%d", i))
	}
	f.posted(ids...)
	for _, id := range ids {
		body := docBody(id, nil)
		type answer struct {
			code int
			st   cloud.DocumentStatus
			err  error
		}
		var answers [2]answer
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, base := range []string{f.a.url, f.b.url} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				code, st, err := f.shop.post(base, body)
				answers[i] = answer{code, st, err}
			}()
		}
		close(start)
		wg.Wait()
		for i, a := range answers {
			if a.err != nil || a.code != 200 {
				t.Errorf("%s posted to %s at once with %s: %d %v", id, []string{"A", "B"}[i], []string{"B", "A"}[i], a.code, a.err)
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	sts := f.awaitCompleted(t, f.b.url, 30*time.Second, nil, ids...)

	// The cabinet's list, read from A, then from B: one row for each id.
	for _, node := range []*cloudNode{f.a, f.b} {
		rows := map[string][]csvDoc{}
		for _, d := range f.cab.documents(t, node.url) {
			rows[d.ID] = append(rows[d.ID], d)
		}
		for _, id := range ids {
			if len(rows[id]) != 1 {
				t.Errorf("%s: the cabinet's list read from %s has %d documents of this id: %+v", id, node.name, len(rows[id]), rows[id])
			}
		}
	}

	// The drive signed one receipt per id: wait a moment for a second one
	// that should not come.
	time.Sleep(time.Second)
	after := len(f.reg.receipts(t))
	if after-before != rounds {
		t.Errorf("the drive has %d new receipts for %d documents posted twice each", after-before, rounds)
	}
	t.Logf("%d ids posted to A and B at once: %d documents, %d receipts", rounds, len(sts), after-before)
}

// A document's callback is delivered once, by one node, though both run and
// a third node starts while the callback is under way.
//
// The register reports its results through A, so A takes each callback job
// at once and holds it while it delivers. B takes due jobs every 30 s, and
// every node takes the due jobs at its start: the third node, C, starts
// while the shop is still answering A's call for the held document. A node
// that took a job another holds (no hold, or one not checked) would call
// that shop a second time, which the sink counts.
func (f *fleet) callbackOnce(t *testing.T) {
	sink := newCallbackSink(t)
	held := f.id("cb-held")
	ids := []string{f.id("cb-a1"), f.id("cb-b1"), f.id("cb-a2"), f.id("cb-b2"), held}
	release := make(chan struct{})
	sink.holdCalls(held, release)
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	f.posted(ids...)
	for i, id := range ids[:4] {
		base := []string{f.a.url, f.b.url}[i%2]
		f.shop.mustPost(t, base, docBody(id, func(m map[string]any) { m["responseURL"] = sink.URL + "/cb" }))
	}
	heldPosted := time.Now()
	f.shop.mustPost(t, f.b.url, docBody(held, func(m map[string]any) { m["responseURL"] = sink.URL + "/cb" }))

	// Wait for the held callback's first call, then start C while the shop
	// keeps it waiting. C's start takes every due job it can; A holds this
	// one. The hold is let go after 6 s at most: A gives one call 10 s.
	for deadline := time.Now().Add(30 * time.Second); len(sink.callsFor(held)) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			_, st, _ := f.shop.status(f.b.url, held)
			t.Fatalf("no callback for %s within 30 s; it is %s: %s", held, st.Status, st.Message)
		}
	}
	t.Logf("POST to B → its callback called %v", time.Since(heldPosted).Round(time.Millisecond))
	cStart := time.Now()
	cStarted := make(chan *cloudNode, 1)
	go func() { cStarted <- startCloudQuiet(t, f.bin, "C", f.dsn) }()
	var c *cloudNode
	select {
	case c = <-cStarted:
	case <-time.After(6 * time.Second):
		t.Logf("node C not up within 6 s: the held callback is answered before C's start")
	}
	if c != nil {
		t.Logf("node C started and printed its credentials in %v while the shop held A's call", time.Since(cStart).Round(time.Millisecond))
	}
	releaseOnce.Do(func() { close(release) })
	if c == nil {
		c = <-cStarted
	}
	if c == nil {
		t.FailNow()
	}
	if !reflect.DeepEqual(c.creds.Sandbox, f.a.creds.Sandbox) {
		t.Errorf("node C prints another sandbox: %+v", c.creds.Sandbox)
	}
	c.awaitReady(t)

	sts := f.awaitCompleted(t, f.b.url, 30*time.Second, nil, ids...)
	// Any second call would come soon after the first: C has started and
	// taken what it could, A and B deliver at once. Wait 3 s past the last
	// first call.
	var lastFirst time.Time
	for _, id := range ids {
		if cs := sink.callsFor(id); len(cs) > 0 && cs[0].at.After(lastFirst) {
			lastFirst = cs[0].at
		}
	}
	time.Sleep(time.Until(lastFirst.Add(3 * time.Second)))
	c.kill()
	for _, id := range ids {
		cs := sink.callsFor(id)
		if len(cs) != 1 {
			var at []string
			for _, c := range cs {
				at = append(at, c.at.Format("15:04:05.000")+" "+string(c.status.Status))
			}
			t.Errorf("callback of %s called %d times, want once: %v", id, len(cs), at)
			continue
		}
		if st := cs[0].status; st.Status != cloud.Completed || st.FiscalInfo == nil ||
			st.FiscalInfo.FNDocNumber != sts[id].FiscalInfo.FNDocNumber {
			t.Errorf("callback of %s: %s with %+v; the document is COMPLETED with FD %d", id, st.Status, st.FiscalInfo, sts[id].FiscalInfo.FNDocNumber)
		}
	}
}

// kill -9 of node A while the register works through a stream of documents:
// the register goes on through B (the balancer's connections to A are
// refused), and every document is fiscalized once, with its own FD.
//
// What could fail it: a lease A granted whose answer died with it, unless the
// register takes it back at once, waits out its lease (2 min) before B gives
// it out again, past the test's deadline; a result A stored without answering
// is sent again through B, and must not make a second receipt; a document
// posted to A before the kill must be in the store B reads. When the kill
// falls is up to the machine; the next subtest makes the first case certain.
func (f *fleet) killA(t *testing.T) {
	const before, after = 20, 10
	ids := make([]string, before+after)
	for i := range ids {
		ids[i] = f.id(fmt.Sprintf("stream-%02d", i))
	}
	f.posted(ids...)
	receiptsBefore := len(f.reg.receipts(t))
	dialsB := f.lb.dialsTo(t, f.b.url)

	// The first documents go at once, alternately to A and B: the register
	// has a backlog to lease, sign and report through A when A dies, right
	// after the last of them is stored.
	var wg sync.WaitGroup
	errs := make([]error, before)
	start := make(chan struct{})
	for i, id := range ids[:before] {
		base := []string{f.a.url, f.b.url}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, _, errs[i] = f.shop.post(base, docBody(id, nil))
		}()
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	f.a.kill()
	doneAtKill := 0
	for _, id := range ids[:before] {
		if _, st, err := f.shop.status(f.b.url, id); err == nil && st.Status == cloud.Completed {
			doneAtKill++
		}
	}
	t.Logf("node A killed (SIGKILL) at %s once the %d documents were stored; %d of them COMPLETED just after",
		killed.UTC().Format("15:04:05.000"), before, doneAtKill)
	if doneAtKill == before {
		t.Logf("note: the register had finished all %d before the kill; the %d after it still go through B", before, after)
	}

	for _, id := range ids[before:] {
		f.shop.mustPost(t, f.b.url, docBody(id, nil))
	}
	sts := f.awaitCompleted(t, f.b.url, 30*time.Second, &death{"node A", killed}, ids...)
	var lastChange time.Time
	for _, st := range sts {
		if st.TimeStatusChanged.After(lastChange) {
			lastChange = st.TimeStatusChanged
		}
	}
	t.Logf("all %d documents COMPLETED, the last %v after the kill; the balancer made %d connections to B",
		len(ids), lastChange.Sub(killed).Round(time.Millisecond), f.lb.dialsTo(t, f.b.url)-dialsB)

	fds := map[int]string{}
	for _, id := range ids {
		fd := sts[id].FiscalInfo.FNDocNumber
		if other, ok := fds[fd]; ok {
			t.Errorf("%s and %s both have FD %d", other, id, fd)
		}
		fds[fd] = id
	}
	time.Sleep(time.Second)
	got := f.reg.receipts(t)
	if n := len(got) - receiptsBefore; n != len(ids) {
		t.Errorf("the drive has %d new receipts for %d documents", n, len(ids))
	}
	for fd, id := range fds {
		if !got[fd] {
			t.Errorf("%s: FD %d is not a receipt in the drive's archive", id, fd)
		}
	}
}

// A node that dies after it granted the register a lease and before its
// answer reached the register: the balancer sees the answer, kills the node
// that gave it (SIGKILL) and answers the register 502, as a balancer whose
// node died mid-answer does. The documents of that lease must still be
// fiscalized soon, through the other node, each once.
//
// Node A, killed above, first comes back on a new port (same database, same
// sandbox) and the balancer prefers it again. Shops post through the
// balancer too, and post again on a failure: an id makes that safe.
func (f *fleet) leaseLost(t *testing.T) {
	a := startCloud(f.top, f.bin, "A (restarted)", f.dsn)
	if !reflect.DeepEqual(a.creds.Sandbox, f.b.creds.Sandbox) {
		t.Fatalf("the restarted node A prints another sandbox: %+v", a.creds.Sandbox)
	}
	a.awaitReady(t)
	f.a = a
	f.lb.setFirst(t, a.url)

	nodes := map[string]*cloudNode{hostPort(t, a.url): a, hostPort(t, f.b.url): f.b}
	type lost struct {
		node *cloudNode
		ids  []string
		at   time.Time
	}
	lostCh := make(chan lost, 1)
	var armed *func(string, *http.Response) error // the trap, disarmed once it fires
	trap := func(node string, resp *http.Response) error {
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		var lr cloud.LeaseResponse
		if err != nil || resp.StatusCode != http.StatusOK || json.Unmarshal(body, &lr) != nil || len(lr.Documents) == 0 {
			return nil
		}
		n := nodes[node]
		if n == nil || !f.lb.trap.CompareAndSwap(armed, nil) {
			return nil
		}
		n.kill()
		l := lost{node: n, at: time.Now()}
		for _, d := range lr.Documents {
			l.ids = append(l.ids, d.ID)
		}
		lostCh <- l
		return fmt.Errorf("node %s died before its answer", node)
	}
	armed = &trap
	f.lb.trap.Store(armed)
	t.Cleanup(func() { f.lb.trap.Store(nil) })

	const before, after = 10, 5
	ids := make([]string, before+after)
	for i := range ids {
		ids[i] = f.id(fmt.Sprintf("lost-%02d", i))
	}
	f.posted(ids...)
	receiptsBefore := len(f.reg.receipts(t))
	retried := 0
	for _, id := range ids[:before] {
		_, tries := f.shop.postRetrying(t, f.lb.URL, docBody(id, nil))
		retried += tries - 1
	}
	var l lost
	select {
	case l = <-lostCh:
	case <-time.After(30 * time.Second):
		t.Fatal("the register leased none of the documents within 30 s")
	}
	t.Logf("%s killed at %s as its lease of %d documents went to the register: %v",
		l.node.name, l.at.UTC().Format("15:04:05.000"), len(l.ids), l.ids)
	for _, id := range ids[before:] {
		_, tries := f.shop.postRetrying(t, f.lb.URL, docBody(id, nil))
		retried += tries - 1
	}
	if retried > 0 {
		t.Logf("the shop posted again %d times through the balancer", retried)
	}
	sts := f.awaitCompleted(t, f.lb.URL, 30*time.Second, &death{l.node.name, l.at}, ids...)
	var lastChange time.Time
	for _, id := range l.ids {
		if st := sts[id]; st.TimeStatusChanged.After(lastChange) {
			lastChange = st.TimeStatusChanged
		}
	}
	t.Logf("all %d documents COMPLETED; the lost lease's last %v after the kill", len(ids), lastChange.Sub(l.at).Round(time.Millisecond))
	time.Sleep(time.Second)
	if n := len(f.reg.receipts(t)) - receiptsBefore; n != len(ids) {
		t.Errorf("the drive has %d new receipts for %d documents", n, len(ids))
	}
}

// At the end, the drive's receipts are exactly the fnDocNumbers of the
// documents posted: none missing, none twice, none extra.
func (f *fleet) driveReceipts(t *testing.T) {
	// A document not COMPLETED within its subtest's wait may be by now (its
	// subtest has failed for it already): ask the node still up.
	f.docsMu.Lock()
	var late []string
	for id, fd := range f.docs {
		if fd == 0 {
			late = append(late, id)
		}
	}
	f.docsMu.Unlock()
	since := map[string]cloud.DocumentStatus{}
	for _, id := range late {
		if _, st, err := f.shop.status(f.lb.URL, id); err == nil && st.Status == cloud.Completed {
			since[id] = st
		}
	}
	f.completed(t, since)

	time.Sleep(500 * time.Millisecond) // a receipt signed twice would be on the drive by now
	got := f.reg.receipts(t)
	f.docsMu.Lock()
	defer f.docsMu.Unlock()
	want := map[int]bool{}
	var missing []string
	for id, fd := range f.docs {
		if fd == 0 {
			missing = append(missing, id)
			continue
		}
		want[fd] = true
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		t.Logf("%d documents are not COMPLETED (their subtests failed): %v", len(missing), missing)
	}
	var extra, absent []int
	for fd := range got {
		if !want[fd] {
			extra = append(extra, fd)
		}
	}
	for fd := range want {
		if !got[fd] {
			absent = append(absent, fd)
		}
	}
	slices.Sort(extra)
	slices.Sort(absent)
	if len(extra) > 0 {
		t.Errorf("receipts on the drive that no COMPLETED document's fnDocNumber names (a document fiscalized twice, "+
			"or one the cloud never learned of): FDs %v", extra)
	}
	if len(absent) > 0 {
		t.Errorf("fnDocNumbers that are no receipt on the drive: FDs %v", absent)
	}
	h, err := f.reg.health()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d documents posted, %d COMPLETED, %d receipts on the drive; last FD %d, %d waiting for the drive",
		len(f.docs), len(want), len(got), h.Drive.LastFD, h.WaitingForDrive)
}

// getJSON GETs url with the shop's credentials and decodes the answer.
func getJSON[T any](s *shop, url string) (T, error) {
	var v T
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return v, err
	}
	req.SetBasicAuth(s.login, s.password)
	resp, err := s.hc.Do(req)
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return v, err
	}
	if resp.StatusCode != http.StatusOK {
		return v, fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return v, json.Unmarshal(b, &v)
}
