package extract

import (
	"os"
	"strings"
	"testing"

	"github.com/lobby-dev/lobby"
)

func TestRead(t *testing.T) {
	t.Parallel()
	t.Run("OKMarkdown", func(t *testing.T) {
		got, err := Read([]byte("# Guide\n\nHello *world*.\n\n## Setup\n\n- one\n- two\n"), "guide.md", "")
		if err != nil {
			t.Fatal(err)
		}
		if got.Title != "Guide" || got.ContentType != TypeMarkdown || !strings.Contains(got.Markdown, "## Setup") {
			t.Errorf("got %+v", got)
		}
	})
	t.Run("OKHTML", func(t *testing.T) {
		page := `<html><head><title>Refunds</title></head><body><nav><a href="/">Home</a> <a href="/x">Menu item</a></nav><article><h1>Refunds</h1><p>` + strings.Repeat("Refunds are paid within fourteen days of the request. ", 20) + `</p></article><footer>Copyright</footer></body></html>`
		got, err := Read([]byte(page), "page.html", "")
		if err != nil {
			t.Fatal(err)
		}
		if got.Title != "Refunds" || !strings.Contains(got.Markdown, "fourteen days") || strings.Contains(got.Markdown, "Menu item") {
			t.Errorf("got %+v", got)
		}
	})
	bad := []struct {
		name, file, code, msg string
		data                  []byte
	}{
		{"ErrEmpty", "a.md", lobby.EINVALID, "empty", []byte("  \n")},
		{"ErrBinaryAsMarkdown", "a.md", lobby.EMEDIATYPE, "this file is not Markdown: it looks like binary data", []byte{0, 1, 2, 0xff, 0xfe, 3, 4}},
		{"ErrPDFAsMarkdown", "a.md", lobby.EMEDIATYPE, "it is a PDF", []byte("%PDF-1.4\n")},
		{"ErrNoWords", "a.txt", lobby.EINVALID, "no words", []byte("--- *** ---")},
		{"ErrScriptsOnly", "a.html", lobby.EINVALID, "no readable text", []byte("<html><body><script>var a = 1;</script></body></html>")},
		{"ErrTruncatedPDF", "a.pdf", lobby.EINVALID, "damaged", []byte("%PDF-1.4\n1 0 obj << /Type /Catalog")},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(tc.data, tc.file, "")
			if lobby.ErrorCode(err) != tc.code || !strings.Contains(lobby.ErrorMessage(err), tc.msg) {
				t.Errorf("err = %v, want %s containing %q", err, tc.code, tc.msg)
			}
		})
	}
}

func TestReadPDF(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ file, code, want string }{
		{"text.pdf", "", "fourteen days"},
		{"image-only.pdf", lobby.EINVALID, "no text layer"},
		{"truncated.pdf", lobby.EINVALID, "damaged"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile("testdata/" + tc.file)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Read(data, tc.file, "")
			if lobby.ErrorCode(err) != tc.code {
				t.Fatalf("err = %v", err)
			}
			if err == nil && !strings.Contains(got.Markdown, tc.want) || err != nil && !strings.Contains(lobby.ErrorMessage(err), tc.want) {
				t.Errorf("got %+v, %v", got, err)
			}
		})
	}
}
