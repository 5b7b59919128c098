package http_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"
	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/jobs"
	"github.com/lobby-dev/lobby/storetest"
	"github.com/lobby-dev/lobby/stripe/stripetest"
	_ "modernc.org/sqlite"
)

// instant is a provider that answers at once: the benchmarks measure the platform.
type instant struct{}

func (instant) Name() string { return "instant" }

func (instant) Complete(ctx context.Context, req lobby.CompletionRequest, onDelta func(string)) (*lobby.Completion, error) {
	onDelta("ok")
	return &lobby.Completion{Text: "ok", Model: "instant"}, nil
}

func reportLatencies(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
}

func benchBackends(b *testing.B, f func(b *testing.B, be storetest.Backend)) {
	for _, be := range storetest.Backends() {
		b.Run(be.Name, func(b *testing.B) { f(b, be) })
	}
}

// BenchmarkRoundTrip: one buyer sends, and the reply's message.completed reaches its
// WebSocket; the figure is send to socket, through the real server on loopback.
func BenchmarkRoundTrip(b *testing.B) {
	benchBackends(b, func(b *testing.B, be storetest.Backend) {
		s := newTestServer(b, be, withLLM(instant{}))
		token, _ := chatSetup(s, map[string]any{"plans": []map[string]any{{"tier": "starter", "price_cents": 1, "message_cap": nil}}})
		web := s.listen()
		cnv := s.do("POST", "/api/v1/chat", token, map[string]any{"message": "warm up"}).want(b, 200).json()["conversation_id"].(string)
		ctx := context.Background()
		ws, _, err := websocket.Dial(ctx, strings.Replace(web, "http", "ws", 1)+"/api/v1/realtime",
			&websocket.DialOptions{Subprotocols: []string{"bearer." + token}})
		if err != nil {
			b.Fatal(err)
		}
		defer ws.CloseNow()
		wsWrite(b, ws, map[string]any{"type": "subscribe", "conversation_id": cnv})
		wsRead(b, ws)
		client := &http.Client{}
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			start := time.Now()
			req, _ := http.NewRequest("POST", web+"/api/v1/chat", strings.NewReader(`{"message":"q`+strconv.Itoa(i)+`","wait_seconds":0}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			for {
				if e := wsRead(b, ws); e["type"] == "message.completed" {
					break
				}
			}
			lat = append(lat, time.Since(start))
		}
		b.StopTimer()
		reportLatencies(b, lat)
	})
}

// BenchmarkThroughput: 100 buyers send at once, each waiting for its reply; the figure
// is messages a second, each with its reply stored.
func BenchmarkThroughput(b *testing.B) {
	benchBackends(b, func(b *testing.B, be storetest.Backend) {
		s := newTestServer(b, be, withLLM(instant{}))
		owner, _ := s.signIn("owner@example.com")
		s.createConsultant(owner, "busy", map[string]any{"plans": []map[string]any{{"tier": "open", "price_cents": 1, "message_cap": nil}}})
		const buyers = 100
		tokens := make([]string, buyers)
		for i := range tokens {
			u, _ := s.signIn(fmt.Sprintf("b%d@example.com", i))
			_, tokens[i] = s.subscribe(u, "busy", "open")
		}
		web := s.listen()
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: buyers}}
		b.ResetTimer()
		start := time.Now()
		var wg sync.WaitGroup
		per := (b.N + buyers - 1) / buyers
		for _, tok := range tokens {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range per {
					req, _ := http.NewRequest("POST", web+"/api/v1/chat", strings.NewReader(`{"message":"hello"}`))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Authorization", "Bearer "+tok)
					resp, err := client.Do(req)
					if err != nil || resp.StatusCode != 200 {
						b.Errorf("send: %v %v", resp, err)
						return
					}
					resp.Body.Close()
				}
			}()
		}
		wg.Wait()
		b.ReportMetric(float64(per*buyers)/time.Since(start).Seconds(), "msgs/s")
	})
}

// BenchmarkInsertFloor is the floor under the figures above: single-row durable
// inserts, one transaction each, with the same drivers and settings.
func BenchmarkInsertFloor(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), "floor.db")
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate")
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		db.SetMaxOpenConns(1)
		db.Exec(`CREATE TABLE t (id TEXT PRIMARY KEY, body TEXT)`)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := db.Exec(`INSERT INTO t VALUES ($1, $2)`, lobby.NewID("x_"), "hello"); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "inserts/s")
	})
	b.Run("postgres", func(b *testing.B) {
		url := os.Getenv(storetest.PostgresURLVar)
		if url == "" {
			b.Skip("set " + storetest.PostgresURLVar)
		}
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close(ctx)
		// A real table, not a TEMP one: temporary tables skip the write-ahead log, and
		// the floor is a durable insert's.
		table := "floor_" + strconv.FormatInt(time.Now().UnixNano(), 36)
		if _, err := conn.Exec(ctx, `CREATE TABLE `+table+` (id TEXT PRIMARY KEY, body TEXT)`); err != nil {
			b.Fatal(err)
		}
		defer conn.Exec(context.Background(), `DROP TABLE `+table)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := conn.Exec(ctx, `INSERT INTO `+table+` VALUES ($1, $2)`, lobby.NewID("x_"), "hello"); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "inserts/s")
	})
}

// BenchmarkWebSocketEcho is the floor for the socket: a bare coder/websocket echo.
func BenchmarkWebSocketEcho(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil || c.Write(r.Context(), typ, msg) != nil {
				return
			}
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	c, _, err := websocket.Dial(ctx, strings.Replace(srv.URL, "http", "ws", 1), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.CloseNow()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		c.Write(ctx, websocket.MessageText, []byte(`{"type":"message.completed"}`))
		if _, _, err := c.Read(ctx); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	reportLatencies(b, lat)
}

// BenchmarkIdleWebSockets opens LOBBY_BENCH_SOCKETS (default 2000) sockets, each
// following a conversation, and reports the heap they hold per connection: client and
// server both live in this process, so the figure is an upper bound for the server.
func BenchmarkIdleWebSockets(b *testing.B) {
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("LOBBY_BENCH_SOCKETS")); err == nil {
		n = v
	}
	s := newTestServer(b, storetest.SQLite, withLLM(instant{}))
	token, _ := chatSetup(s, nil)
	web := s.listen()
	cnv := s.do("POST", "/api/v1/chat", token, map[string]any{"message": "hi"}).want(b, 200).json()["conversation_id"].(string)
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse + m.StackInuse
	}
	for i := 0; i < b.N; i++ {
		before := heap()
		conns := make([]*websocket.Conn, 0, n)
		ctx := context.Background()
		for range n {
			ws, _, err := websocket.Dial(ctx, strings.Replace(web, "http", "ws", 1)+"/api/v1/realtime",
				&websocket.DialOptions{Subprotocols: []string{"bearer." + token}})
			if err != nil {
				b.Fatalf("socket %d: %v (raise ulimit -n)", len(conns), err)
			}
			wsWrite(b, ws, map[string]any{"type": "subscribe", "conversation_id": cnv})
			wsRead(b, ws)
			conns = append(conns, ws)
		}
		b.ReportMetric(float64(heap()-before)/float64(n)/1024, "KB/conn")
		for _, c := range conns {
			c.CloseNow()
		}
	}
}

// deliverySetup makes a webhook consultant on s whose agent is an instant local
// receiver reporting each delivery's arrival on the returned channel, and returns
// buyer tokens of n subscriptions to it.
func deliverySetup(b *testing.B, s *testServer, n int) ([]string, <-chan time.Time) {
	arrived := make(chan time.Time, 1<<16)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- time.Now()
		w.WriteHeader(http.StatusAccepted)
	}))
	b.Cleanup(rc.Close)
	owner, _ := s.signIn("owner@example.com")
	s.createConsultant(owner, "fast-agent", map[string]any{"mode": "webhook", "webhook_url": rc.URL + "/lobby",
		"plans": []map[string]any{{"tier": "starter", "price_cents": 1, "message_cap": nil}}})
	tokens := make([]string, n)
	for i := range tokens {
		user, _ := s.signIn(fmt.Sprintf("buyer%d@example.com", i))
		_, tokens[i] = s.subscribe(user, "fast-agent", "starter")
	}
	return tokens, arrived
}

// BenchmarkDeliveryLatency: from a buyer's send to the first byte of the signed POST
// at an instant receiver, one message at a time.
func BenchmarkDeliveryLatency(b *testing.B) {
	benchBackends(b, func(b *testing.B, be storetest.Backend) {
		s := newTestServer(b, be, withDev())
		tokens, arrived := deliverySetup(b, s, 1)
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			start := time.Now()
			s.do("POST", "/api/v1/chat", tokens[0], map[string]any{"message": "ping " + strconv.Itoa(i), "wait_seconds": 0}).want(b, 202)
			lat = append(lat, (<-arrived).Sub(start))
		}
		b.StopTimer()
		reportLatencies(b, lat)
	})
}

// BenchmarkDeliveryThroughput: 50 buyers send at once; the figure is signed deliveries
// a second that reach an instant receiver, sends included.
func BenchmarkDeliveryThroughput(b *testing.B) {
	benchBackends(b, func(b *testing.B, be storetest.Backend) {
		s := newTestServer(b, be, withDev())
		tokens, arrived := deliverySetup(b, s, 50)
		b.ResetTimer()
		start := time.Now()
		var wg sync.WaitGroup
		next := make(chan int, b.N)
		for i := range b.N {
			next <- i
		}
		close(next)
		for _, tok := range tokens {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := s.inGoroutine()
				for i := range next {
					s.do("POST", "/api/v1/chat", tok, map[string]any{"message": "m" + strconv.Itoa(i), "wait_seconds": 0}).want(b, 202)
				}
			}()
		}
		for range b.N {
			<-arrived
		}
		b.StopTimer()
		wg.Wait()
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "deliveries/s")
	})
}

// BenchmarkDeliveryDrain: b.N messages wait in the paused queue; the figure is signed
// deliveries a second once it resumes, to an instant receiver.
func BenchmarkDeliveryDrain(b *testing.B) {
	benchBackends(b, func(b *testing.B, be storetest.Backend) {
		s := newTestServer(b, be, withDev())
		tokens, arrived := deliverySetup(b, s, 10)
		ctx := context.Background()
		if err := s.queue.QueuePause(ctx, jobs.QueueDeliveries, nil); err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		for w, tok := range tokens {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := s.inGoroutine()
				for i := w; i < b.N; i += len(tokens) {
					s.do("POST", "/api/v1/chat", tok, map[string]any{"message": "m" + strconv.Itoa(i), "wait_seconds": 0}).want(b, 202)
				}
			}()
		}
		wg.Wait()
		b.ResetTimer()
		start := time.Now()
		if err := s.queue.QueueResume(ctx, jobs.QueueDeliveries, nil); err != nil {
			b.Fatal(err)
		}
		for range b.N {
			<-arrived
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "deliveries/s")
	})
}

// BenchmarkPaymentEvents: signed invoice.paid events for 20 subscriptions, posted by
// 20 clients at once through the real server on loopback; the figure is events a
// second, from the first post until every event has been applied by its job.
func BenchmarkPaymentEvents(b *testing.B) {
	benchBackends(b, func(b *testing.B, be storetest.Backend) {
		s := newTestServer(b, be, withStripe(""))
		owner, _ := s.signIn("owner@example.com")
		s.createConsultant(owner, "paid", map[string]any{"plans": []map[string]any{{"tier": "small", "price_cents": 900, "message_cap": 5}}})
		const subs = 20
		for i := range subs {
			_, buyer := s.signIn(fmt.Sprintf("b%d@example.com", i))
			chk := stripeCheckout(b, s, buyer, "paid", "small")
			s.stripeEvent("evt_chk_"+chk, "checkout.session.completed", map[string]any{"id": "cs_" + chk, "object": "checkout.session",
				"client_reference_id": chk, "subscription": fmt.Sprintf("sub_%d", i)}).want(b, 200)
		}
		web := s.listen()
		signed := make([][2]string, b.N) // payload and signature, made before the clock starts
		start := s.clock.Now()
		for i := range signed {
			payload := stripetest.Event(fmt.Sprintf("evt_%d", i), "invoice.paid", map[string]any{"id": fmt.Sprintf("in_%d", i), "object": "invoice",
				"amount_paid": 900, "currency": "usd",
				"parent": map[string]any{"type": "subscription_details", "subscription_details": map[string]any{"subscription": fmt.Sprintf("sub_%d", i%subs)}},
				"lines": map[string]any{"object": "list", "data": []any{map[string]any{"id": "il", "period": map[string]any{
					"start": start.Add(time.Duration(i) * time.Hour).Unix(), "end": start.Add(time.Duration(i)*time.Hour).AddDate(0, 1, 0).Unix()}}}}})
			signed[i] = [2]string{string(payload), stripetest.Sign(payload, webhookSecret, time.Now())}
		}
		pending, closeCount := unappliedCounter(b, s)
		defer closeCount()
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: subs}}
		b.ResetTimer()
		began := time.Now()
		var wg sync.WaitGroup
		next := make(chan int)
		for range subs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					req, _ := http.NewRequest("POST", web+"/api/v1/stripe/webhook", strings.NewReader(signed[i][0]))
					req.Header.Set("Stripe-Signature", signed[i][1])
					resp, err := client.Do(req)
					if err != nil || resp.StatusCode != 200 {
						b.Errorf("event %d: %v %v", i, err, resp)
						return
					}
					resp.Body.Close()
				}
			}()
		}
		for i := range signed {
			next <- i
		}
		close(next)
		wg.Wait()
		taken := time.Since(began)
		for pending() > 0 {
			time.Sleep(2 * time.Millisecond)
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)/taken.Seconds(), "taken/s")
		b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "applied/s")
	})
}

// unappliedCounter returns a function counting the payment events not applied yet,
// over a connection of the benchmark's own.
func unappliedCounter(b *testing.B, s *testServer) (func() int, func()) {
	dsn := storetest.DSN(s.db)
	driver, name := "pgx", dsn
	if path, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
		driver, name = "sqlite", "file:"+path+"?_pragma=busy_timeout(10000)"
	}
	db, err := sql.Open(driver, name)
	if err != nil {
		b.Fatal(err)
	}
	if driver == "pgx" {
		// Each test store lives in a schema of its own, named in the URL's search_path.
		db.SetMaxOpenConns(1)
	}
	return func() int {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM payment_events WHERE applied_at IS NULL`).Scan(&n); err != nil {
			b.Fatal(err)
		}
		return n
	}, func() { db.Close() }
}
