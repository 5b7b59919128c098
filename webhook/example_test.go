package webhook_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"

	"github.com/lobby-dev/lobby/webhook"
)

// An agent's handler verifies each delivery, then decodes it.
func ExampleVerifier() {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // from the consultant's settings
	v, err := webhook.NewVerifier(secret)
	if err != nil {
		panic(err)
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := v.VerifyRequest(r, 1<<20)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var ev webhook.Event
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Printf("%s from %s: %q\n", r.Header.Get(webhook.HeaderID), ev.Data.Buyer.ID, ev.Data.Message.Content)
		w.WriteHeader(http.StatusNoContent)
	})

	// What Lobby sends.
	body := []byte(`{"type":"message.created","data":{"conversation_id":"cnv_1",` +
		`"message":{"id":"msg_1","role":"buyer","content":"Hello?"},"buyer":{"id":"usr_1"}}}`)
	now := time.Now()
	sig, _ := webhook.Sign(secret, "evt_1", now, body)
	r := httptest.NewRequest("POST", "/lobby", bytes.NewReader(body))
	r.Header.Set(webhook.HeaderID, "evt_1")
	r.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	r.Header.Set(webhook.HeaderSignature, sig)

	w := httptest.NewRecorder()
	handler.ServeHTTP(w, r)
	fmt.Println(w.Code)
	// Output:
	// evt_1 from usr_1: "Hello?"
	// 204
}
