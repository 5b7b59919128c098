//go:build ignore

// gen_pdf writes expense-policy.pdf, the quality set's PDF: a plain PDF 1.4 with a
// text layer (Helvetica, uncompressed content streams, exact xref offsets), as an
// office suite's export would have it. Run it from this directory:
//
//	go run gen_pdf.go
package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
)

// policy is the document: paragraphs separated by blank lines; a line starting "# " is
// a heading, set in bold.
const policy = `# Employee Travel and Expense Policy

Brightline Consulting Group. Applies to all employees and contractors who travel or spend money on the company's behalf. Effective January 1, 2026.

# 1. Purpose and approval

The company pays the reasonable costs of travel and business entertainment that are needed to do your job. It does not pay for upgrades, personal side trips or costs you would have had anyway. Every trip that involves a flight or an overnight stay must be approved in advance by your line manager through the travel portal. Trips abroad also need the approval of the practice director.

# 2. Booking flights and trains

Book all flights through the travel portal at least 14 days before departure, when fares are lower. Economy class is the standard for every flight. Premium economy may be booked for flights with a scheduled flying time of more than 6 hours, and business class only with the written approval of a director. Trains are preferred to flights for any journey of under 4 hours door to door. Standard class is the rule on trains; first class may be booked when it costs less than 20 percent more than standard and you will work during the journey.

# 3. Hotels

Book hotels through the travel portal so that the company can find you in an emergency. The nightly limit, including taxes but excluding breakfast, is 180 dollars in most cities and 260 dollars in the high-cost cities listed on the portal. If you stay with friends or family instead of a hotel, you may claim a flat 40 dollars a night for a gift or meal for your hosts.

# 4. Meals and per diem

When you travel overnight you receive a daily meal allowance of 75 dollars, paid with your next salary, instead of claiming actual meal costs. On the first and last days of a trip the allowance is 75 percent of the full rate. No allowance is paid for meals that were provided free, for example at a conference or on a flight.

Meals with clients are claimed at actual cost and need the names of the guests, their company and the business purpose on the claim. Alcohol is reimbursed only with client meals and never more than two drinks per person.

# 5. Ground transport and mileage

Use public transport or shared airport shuttles where practical. Taxis and ride-hailing services are reimbursed when public transport is not available, after 9 pm, or when you carry heavy equipment. Car hire needs approval and must be the smallest car suitable for the trip.

If you use your own car for business, you are reimbursed 65 cents per mile for the distance beyond your normal commute. Record the start and end of each journey and the purpose of the trip in the mileage log on the expense system. Parking and tolls are reimbursed with receipts; fines for parking or speeding are never reimbursed.

# 6. Receipts and submitting claims

Submit every expense claim through the expense system within 30 days of the end of the trip or of the purchase. Claims submitted later than 60 days are refused unless your director approves a late claim in writing.

An itemised receipt is required for every expense above 25 dollars. A credit card slip that shows only the total is not an itemised receipt. If you lose a receipt, complete the missing receipt declaration in the expense system; no more than two declarations are accepted from one employee in a calendar year.

# 7. Corporate cards

Employees who travel more than four times a year receive a corporate card. Use it for business expenses only and never to withdraw cash, except for local currency on a trip abroad. The balance is paid by the company, but you must reconcile each transaction with a receipt in the expense system by the 10th of the following month. Personal charges made on the card by mistake must be repaid within 15 days.

# 8. How and when you are paid back

Approved claims are paid into your salary account within 10 business days of approval by your manager. You can follow the status of each claim in the expense system. If a claim is rejected, the reason is shown there and you may correct it and submit it again once.

# 9. Insurance and safety abroad

The company's business travel insurance covers every approved trip, including medical treatment abroad, emergency evacuation and lost luggage. You do not need to buy a personal travel insurance policy for business trips. Before a trip abroad, check the travel risk rating of the destination on the portal; travel to countries rated high risk needs the approval of the security team as well as of your director.

# 10. Misuse

Claiming costs that were not incurred, or claiming the same cost twice, is treated as gross misconduct. Expense claims are checked at random each month, and the finance team may ask for further evidence of any claim.`

const (
	pageWidth  = 612
	pageHeight = 792
	margin     = 72
	fontSize   = 10
	leading    = 14
	lineChars  = 92 // Helvetica at 10 pt averages about 5 pt a character
)

func main() {
	pages := layout(policy)
	if err := os.WriteFile("expense-policy.pdf", render(pages), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// line is one line of text on a page; a zero line is an empty one.
type line struct {
	text string
	bold bool
}

// layout wraps the paragraphs into lines, an empty line between paragraphs, and cuts
// them into pages.
func layout(text string) [][]line {
	var lines []line
	for _, para := range strings.Split(text, "\n\n") {
		if len(lines) > 0 {
			lines = append(lines, line{})
		}
		if h, ok := strings.CutPrefix(para, "# "); ok {
			lines = append(lines, line{text: h, bold: true})
			continue
		}
		cur := ""
		for _, w := range strings.Fields(para) {
			if cur != "" && len(cur)+1+len(w) > lineChars {
				lines = append(lines, line{text: cur})
				cur = ""
			}
			if cur != "" {
				cur += " "
			}
			cur += w
		}
		lines = append(lines, line{text: cur})
	}
	perPage := (pageHeight - 2*margin) / leading
	var pages [][]line
	for len(lines) > 0 {
		n := min(perPage, len(lines))
		page := lines[:n]
		for len(page) > 0 && page[0] == (line{}) { // no page starts with a blank line
			page = page[1:]
		}
		pages = append(pages, page)
		lines = lines[n:]
	}
	return pages
}

// content is a page's content stream: one text object, each line moved to by T*.
func content(page []line) string {
	var b strings.Builder
	fmt.Fprintf(&b, "BT\n/F1 %d Tf\n%d TL\n%d %d Td\n", fontSize, leading, margin, pageHeight-margin)
	bold := false
	for i, l := range page {
		if i > 0 {
			b.WriteString("T*\n")
		}
		if l.text == "" {
			continue
		}
		if l.bold != bold {
			font := "/F1"
			if l.bold {
				font = "/F2"
			}
			fmt.Fprintf(&b, "%s %d Tf\n", font, fontSize)
			bold = l.bold
		}
		fmt.Fprintf(&b, "(%s) Tj\n", escape(l.text))
	}
	b.WriteString("ET\n")
	return b.String()
}

func escape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `(`, `\(`, `)`, `\)`).Replace(s)
}

// render writes the PDF: catalog, page tree, two fonts, then a content stream and a
// page object per page, the xref table with each object's byte offset, and the trailer.
func render(pages [][]line) []byte {
	var objs []string
	add := func(s string) int { objs = append(objs, s); return len(objs) }
	add("<< /Type /Catalog /Pages 2 0 R >>")
	add("") // the page tree, once the pages are known
	add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
	add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>")
	add("<< /Title (Employee Travel and Expense Policy) /Producer (gen_pdf.go) >>")
	var kids []string
	for _, p := range pages {
		c := content(p)
		stream := add(fmt.Sprintf("<< /Length %d >>\nstream\n%sendstream", len(c), c))
		page := add(fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] "+
			"/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents %d 0 R >>", pageWidth, pageHeight, stream))
		kids = append(kids, fmt.Sprintf("%d 0 R", page))
	}
	objs[1] = fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), len(kids))

	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R /Info 5 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}
