package report

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"os"
	"regexp"
	"strings"
	"sync"

	xfont "golang.org/x/image/font"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// DefaultHangulFont is the TTF that Korean chart text is set in: Debian's
// fonts-nanum. The fonts compiled into gonum/plot (Liberation) have no
// Hangul.
const DefaultHangulFont = "/usr/share/fonts/truetype/nanum/NanumGothic.ttf"

// hangulFonts remembers, per path, the font loaded into gonum/plot's font
// cache or why it could not be.
var hangulFonts sync.Map // path → hangulResult

type hangulResult struct {
	font font.Font
	err  error
}

// loadHangulFont parses the TTF at path once and adds it to gonum/plot's
// font cache (font.DefaultCache, which every text handler of the charts
// reads) under a typeface of its own.
func loadHangulFont(path string) (font.Font, error) {
	if r, ok := hangulFonts.Load(path); ok {
		return r.(hangulResult).font, r.(hangulResult).err
	}
	res := hangulResult{font: font.Font{Typeface: font.Typeface("vcbench-hangul:" + path)}}
	b, err := os.ReadFile(path)
	if err == nil {
		var f *opentype.Font
		f, err = opentype.Parse(b)
		if err == nil {
			var buf sfnt.Buffer
			if i, gerr := f.GlyphIndex(&buf, '한'); gerr != nil || i == 0 {
				err = errors.New("it has no Hangul glyphs")
			} else {
				font.DefaultCache.Add(font.Collection{{Font: res.font, Face: f}})
			}
		}
	}
	if err != nil {
		res.err = fmt.Errorf("Hangul chart font %s: %w", path, err)
	}
	r, _ := hangulFonts.LoadOrStore(path, res)
	return r.(hangulResult).font, r.(hangulResult).err
}

// chartLook is the language and typeface charts are drawn in. Korean
// charts need a Hangul font; without one they fall back to English text
// in Liberation Sans (never boxes for missing glyphs).
type chartLook struct {
	lang string
	face font.Font
	// outline draws SVG text as glyph outlines (see outlineCanvas).
	outline bool
}

// englishLook is the charts' default: English in Liberation Sans.
var englishLook = chartLook{lang: LangEnglish, face: sansFont}

// chartLookOf picks the model's chart language and font, and says why
// Korean charts fell back to English when they did.
func chartLookOf(m *Model) (chartLook, error) {
	if m.Lang != LangKorean {
		return englishLook, nil
	}
	path := m.HangulFont
	if path == "" {
		path = DefaultHangulFont
	}
	f, err := loadHangulFont(path)
	if err != nil {
		return englishLook, err
	}
	return chartLook{lang: LangKorean, face: f, outline: true}, nil
}

// t is the chart text key in the look's language.
func (l chartLook) t(key string) string { return chartText[key].in(l.lang) }

// style sets a text style's font and handler.
func (l chartLook) style(ts *draw.TextStyle, size vg.Length) {
	ts.Font = font.From(l.face, size)
	ts.Handler = l.handler()
}

func (l chartLook) handler() text.Handler {
	if l.lang == LangKorean {
		return substHandler{plot.DefaultTextHandler}
	}
	return plot.DefaultTextHandler
}

// glyphSubst replaces characters that NanumGothic lacks with ones it has
// that read the same (the micro sign with the Greek mu).
var glyphSubst = strings.NewReplacer("µ", "μ", "✱", "*")

// substHandler is a text handler that substitutes glyphSubst before
// measuring and drawing.
type substHandler struct{ text.Handler }

func (h substHandler) Lines(txt string) []string { return h.Handler.Lines(glyphSubst.Replace(txt)) }
func (h substHandler) Box(txt string, fnt font.Font) (w, ht, d vg.Length) {
	return h.Handler.Box(glyphSubst.Replace(txt), fnt)
}
func (h substHandler) Draw(c vg.Canvas, txt string, sty text.Style, pt vg.Point) {
	h.Handler.Draw(c, glyphSubst.Replace(txt), sty, pt)
}

// outlineCanvas is an SVG canvas that draws text as filled glyph
// outlines, so that a chart set in a font the reader lacks (NanumGothic
// is not on every machine) looks the same everywhere without embedding
// the 4.7 MB font in every chart. The text itself is kept too, as a
// transparent <text> element over the outlines: it can be searched,
// copied and read out, and tests can find it.
type outlineCanvas struct {
	*vgsvg.Canvas
	colors []color.Color // the current colour, per Push level
}

func newOutlineCanvas(w, h vg.Length) *outlineCanvas {
	return &outlineCanvas{Canvas: vgsvg.New(w, h), colors: []color.Color{color.Black}}
}

func (c *outlineCanvas) SetColor(col color.Color) {
	c.colors[len(c.colors)-1] = col
	c.Canvas.SetColor(col)
}

func (c *outlineCanvas) Push() {
	c.colors = append(c.colors, c.colors[len(c.colors)-1])
	c.Canvas.Push()
}

func (c *outlineCanvas) Pop() {
	if len(c.colors) > 1 {
		c.colors = c.colors[:len(c.colors)-1]
	}
	c.Canvas.Pop()
}

// FillString draws str's glyph outlines with the current colour, then
// the text itself (made transparent when the SVG is written).
func (c *outlineCanvas) FillString(f font.Face, pt vg.Point, str string) {
	if p := glyphPath(f, pt, str); len(p) > 0 {
		c.Canvas.Fill(p)
	}
	c.Canvas.FillString(f, pt, str)
}

// glyphPath is str's outline in face f with its baseline starting at pt,
// advanced and kerned as font.Face.Width measures it.
func glyphPath(f font.Face, pt vg.Point, str string) vg.Path {
	var (
		buf   sfnt.Buffer
		upem  = fixed.Int26_6(f.Face.UnitsPerEm())
		scale = float64(f.Font.Size.Points()) / float64(upem)
		pen   fixed.Int26_6
		prev  sfnt.GlyphIndex
		path  vg.Path
	)
	at := func(p fixed.Point26_6) vg.Point {
		return vg.Point{X: pt.X + vg.Length(float64(pen+p.X)*scale), Y: pt.Y - vg.Length(float64(p.Y)*scale)}
	}
	for i, r := range str {
		idx, err := f.Face.GlyphIndex(&buf, r)
		if err != nil {
			continue
		}
		if i > 0 {
			if k, err := f.Face.Kern(&buf, prev, idx, upem, xfont.HintingNone); err == nil {
				pen += k
			}
		}
		segs, err := f.Face.LoadGlyph(&buf, idx, upem, nil)
		if err == nil {
			for _, s := range segs {
				switch s.Op {
				case sfnt.SegmentOpMoveTo:
					if len(path) > 0 {
						path.Close()
					}
					path.Move(at(s.Args[0]))
				case sfnt.SegmentOpLineTo:
					path.Line(at(s.Args[0]))
				case sfnt.SegmentOpQuadTo:
					path.QuadTo(at(s.Args[0]), at(s.Args[1]))
				case sfnt.SegmentOpCubeTo:
					path.CubeTo(at(s.Args[0]), at(s.Args[1]), at(s.Args[2]))
				}
			}
			if len(path) > 0 {
				path.Close()
			}
		}
		if adv, err := f.Face.GlyphAdvance(&buf, idx, upem, xfont.HintingNone); err == nil {
			pen += adv
		}
		prev = idx
	}
	return path
}

var svgTextOpen = regexp.MustCompile(`(<text [^>]*transform="scale\(1, -1\)")`)

// hideOutlinedText makes the <text> elements of an outlined SVG
// transparent: their outlines are drawn already.
func hideOutlinedText(svg []byte) []byte {
	return svgTextOpen.ReplaceAll(svg, []byte(`$1 fill-opacity="0"`))
}

// writeOutlined renders an outlineCanvas to SVG bytes.
func (c *outlineCanvas) bytes() ([]byte, error) {
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return nil, err
	}
	return hideOutlinedText(b.Bytes()), nil
}
