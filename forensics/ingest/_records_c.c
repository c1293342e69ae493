/*
 * forensics._records_c: CloudTrail ``{"Records": [...]}`` files straight into column buffers.
 *
 * An optional accelerator for forensics._fast (the pure-Python path, msgspec, stays the
 * reference and the fallback). A Builder is told the record's fields once (names from Python:
 * text fields, boolean fields, fields kept as raw JSON text, and the ``resources`` list) and
 * then takes whole files with ``add(data)``. It appends every record of a file to growing
 * column buffers, or, if anything in the file is not exactly what it accepts, returns -1 and
 * leaves the buffers as they were: the caller then reads that file the ordinary way. It
 * accepts a strict subset of what msgspec accepts for the same typed records: valid JSON only
 * (strict number grammar, strict UTF-8, no lone surrogates), no unknown or repeated field, no
 * escaped field name, nesting at most MAX_DEPTH deep, every record with a text eventTime.
 * ``finish()`` hands the columns over as Arrow-layout buffers (64-bit offsets, validity bitmaps)
 * and starts a new batch.
 *
 * Input is untrusted: every read is bounds-checked against the end of the buffer.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define MAX_DEPTH 64
#define MAX_NUMBER 64
#define MAX_FIELDS 64

/* ---- growable byte buffers ------------------------------------------------------------ */

typedef struct {
    char *p;
    size_t len, cap;
} Buf;

static int buf_reserve(Buf *b, size_t extra) {
    if (extra > ((size_t)PY_SSIZE_T_MAX) - b->len) return -1;
    size_t need = b->len + extra;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < need) {
        if (cap > ((size_t)PY_SSIZE_T_MAX) / 2) { cap = need; break; }
        cap *= 2;
    }
    char *p = PyMem_Realloc(b->p, cap);
    if (p == NULL) return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

static inline int buf_put(Buf *b, const void *src, size_t n) {
    if (buf_reserve(b, n) < 0) return -1;
    if (n) memcpy(b->p + b->len, src, n);
    b->len += n;
    return 0;
}

static inline int buf_i64(Buf *b, int64_t v) { return buf_put(b, &v, sizeof v); }
static inline int buf_u8(Buf *b, uint8_t v) { return buf_put(b, &v, 1); }

static void buf_free(Buf *b) {
    PyMem_Free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* A column of strings: offsets (int64, one more than rows), bytes, one validity byte a row. */
typedef struct {
    Buf offsets, data, valid;
} StrCol;

static int strcol_init(StrCol *c) {
    memset(c, 0, sizeof *c);
    return buf_i64(&c->offsets, 0);
}

static void strcol_free(StrCol *c) {
    buf_free(&c->offsets);
    buf_free(&c->data);
    buf_free(&c->valid);
}

typedef struct { size_t offsets, data, valid; } StrMark;

static StrMark strcol_mark(const StrCol *c) {
    StrMark m = {c->offsets.len, c->data.len, c->valid.len};
    return m;
}

static void strcol_reset_to(StrCol *c, StrMark m) {
    c->offsets.len = m.offsets;
    c->data.len = m.data;
    c->valid.len = m.valid;
}

static inline int strcol_end_value(StrCol *c, int valid) {
    if (buf_i64(&c->offsets, (int64_t)c->data.len) < 0) return -1;
    return buf_u8(&c->valid, (uint8_t)valid);
}

/* ---- JSON scanning -------------------------------------------------------------------- */

typedef const unsigned char *Ptr;

static inline Ptr skip_ws(Ptr p, Ptr end) {
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    return p;
}

static inline int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int read_hex4(Ptr p, Ptr end, unsigned *out) {
    if (end - p < 4) return -1;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0) return -1;
        v = (v << 4) | (unsigned)h;
    }
    *out = v;
    return 0;
}

/* Length of the valid UTF-8 sequence at p (lead byte >= 0x80), or 0 if it is not valid. */
static inline int utf8_len(Ptr p, Ptr end) {
    unsigned c = p[0];
    ptrdiff_t left = end - p;
#define CONT(i) (left > (i) && (p[i] & 0xC0) == 0x80)
    if (c >= 0xC2 && c <= 0xDF) return CONT(1) ? 2 : 0;
    if (c == 0xE0) return (left > 2 && p[1] >= 0xA0 && p[1] <= 0xBF && CONT(2)) ? 3 : 0;
    if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) return (CONT(1) && CONT(2)) ? 3 : 0;
    if (c == 0xED) return (left > 2 && p[1] >= 0x80 && p[1] <= 0x9F && CONT(2)) ? 3 : 0;
    if (c == 0xF0) return (left > 3 && p[1] >= 0x90 && p[1] <= 0xBF && CONT(2) && CONT(3)) ? 4 : 0;
    if (c >= 0xF1 && c <= 0xF3) return (CONT(1) && CONT(2) && CONT(3)) ? 4 : 0;
    if (c == 0xF4) return (left > 3 && p[1] >= 0x80 && p[1] <= 0x8F && CONT(2) && CONT(3)) ? 4 : 0;
#undef CONT
    return 0;
}

/*
 * A JSON string at p (p[0] == '"'). Returns the byte after the closing quote, or NULL if the
 * string is not valid (unescaped control character, bad escape, lone surrogate, invalid UTF-8,
 * no closing quote). *escaped is set when it contains any escape.
 */
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Whether any of the 8 bytes in w is '"', '\\', a control character or not ASCII (may say
 * yes for a word that has none only in bytes after one that has: the caller then goes byte by
 * byte). */
static inline int word_special(uint64_t w) {
    uint64_t quote = w ^ (ONES * '"'), slash = w ^ (ONES * '\\');
    uint64_t zero_q = (quote - ONES) & ~quote;
    uint64_t zero_s = (slash - ONES) & ~slash;
    uint64_t ctrl = w - ONES * 0x20;
    return ((zero_q | zero_s | ctrl | w) & HIGHS) != 0;
}

static Ptr scan_string(Ptr p, Ptr end, int *escaped) {
    int esc = 0;
    p++;
    for (;;) {
#if defined(__SSE2__)
        /* the common case: plain ASCII, sixteen bytes at a time; on a special byte, jump to it */
        while (end - p >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)p);
            __m128i special = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                             _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
                /* signed: bytes >= 0x80 are negative, control characters below 0x20 */
                _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));
            int mask = _mm_movemask_epi8(special);
            if (mask) {
                p += __builtin_ctz((unsigned)mask);
                break;
            }
            p += 16;
        }
#endif
        /* plain ASCII, eight bytes at a time */
        while (end - p >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            if (word_special(w)) break;
            p += 8;
        }
        while (p < end && *p >= 0x20 && *p != '"' && *p != '\\' && *p < 0x80) p++;
        if (p >= end) return NULL;
        unsigned char c = *p;
        if (c == '"') {
            if (escaped) *escaped = esc;
            return p + 1;
        }
        if (c < 0x20) return NULL;
        if (c == '\\') {
            esc = 1;
            if (end - p < 2) return NULL;
            unsigned char e = p[1];
            if (e == 'u') {
                unsigned u;
                if (read_hex4(p + 2, end, &u) < 0) return NULL;
                p += 6;
                if (u >= 0xDC00 && u <= 0xDFFF) return NULL; /* lone low surrogate */
                if (u >= 0xD800 && u <= 0xDBFF) {
                    unsigned lo;
                    if (end - p < 6 || p[0] != '\\' || p[1] != 'u') return NULL;
                    if (read_hex4(p + 2, end, &lo) < 0) return NULL;
                    if (lo < 0xDC00 || lo > 0xDFFF) return NULL;
                    p += 6;
                }
                continue;
            }
            if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' ||
                e == 'r' || e == 't') {
                p += 2;
                continue;
            }
            return NULL;
        }
        /* c >= 0x80 */
        int n = utf8_len(p, end);
        if (n == 0) return NULL;
        p += n;
    }
}

/* The text of a valid JSON string body [p, end) with its escapes resolved, appended to out. */
static int unescape_into(Buf *out, Ptr p, Ptr end) {
    while (p < end) {
        Ptr run = p;
        while (p < end && *p != '\\') p++;
        if (buf_put(out, run, (size_t)(p - run)) < 0) return -1;
        if (p >= end) break;
        unsigned char e = p[1];
        unsigned char ch;
        switch (e) {
            case '"': ch = '"'; break;
            case '\\': ch = '\\'; break;
            case '/': ch = '/'; break;
            case 'b': ch = '\b'; break;
            case 'f': ch = '\f'; break;
            case 'n': ch = '\n'; break;
            case 'r': ch = '\r'; break;
            case 't': ch = '\t'; break;
            case 'u': {
                unsigned u, lo;
                read_hex4(p + 2, end, &u); /* validated by scan_string */
                p += 6;
                if (u >= 0xD800 && u <= 0xDBFF) {
                    read_hex4(p + 2, end, &lo);
                    p += 6;
                    u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                }
                unsigned char enc[4];
                size_t n;
                if (u < 0x80) { enc[0] = (unsigned char)u; n = 1; }
                else if (u < 0x800) {
                    enc[0] = (unsigned char)(0xC0 | (u >> 6));
                    enc[1] = (unsigned char)(0x80 | (u & 0x3F));
                    n = 2;
                } else if (u < 0x10000) {
                    enc[0] = (unsigned char)(0xE0 | (u >> 12));
                    enc[1] = (unsigned char)(0x80 | ((u >> 6) & 0x3F));
                    enc[2] = (unsigned char)(0x80 | (u & 0x3F));
                    n = 3;
                } else {
                    enc[0] = (unsigned char)(0xF0 | (u >> 18));
                    enc[1] = (unsigned char)(0x80 | ((u >> 12) & 0x3F));
                    enc[2] = (unsigned char)(0x80 | ((u >> 6) & 0x3F));
                    enc[3] = (unsigned char)(0x80 | (u & 0x3F));
                    n = 4;
                }
                if (buf_put(out, enc, n) < 0) return -1;
                continue;
            }
            default: return -1; /* not reached: validated */
        }
        if (buf_u8(out, ch) < 0) return -1;
        p += 2;
    }
    return 0;
}

/* A JSON number in strict grammar; returns the byte after it or NULL. */
static Ptr scan_number(Ptr p, Ptr end) {
    Ptr start = p;
    if (p < end && *p == '-') p++;
    if (p >= end) return NULL;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9') p++;
    } else {
        return NULL;
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9') return NULL;
        while (p < end && *p >= '0' && *p <= '9') p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p >= end || *p < '0' || *p > '9') return NULL;
        while (p < end && *p >= '0' && *p <= '9') p++;
    }
    if (p - start > MAX_NUMBER) return NULL; /* leave oddities to the ordinary reader */
    return p;
}

static inline Ptr scan_literal(Ptr p, Ptr end, const char *lit, size_t n) {
    if ((size_t)(end - p) < n || memcmp(p, lit, n) != 0) return NULL;
    return p + n;
}

/* After a member or an element: the closing byte (*pp moves past it; returns 1), or ',' (*pp
 * moves past it and the whitespace after: more follow; returns 0), or neither (returns -1). */
static inline int next_item(Ptr *pp, Ptr end, unsigned char close) {
    Ptr p = skip_ws(*pp, end);
    if (p >= end) return -1;
    if (*p == close) {
        *pp = p + 1;
        return 1;
    }
    if (*p != ',') return -1;
    *pp = skip_ws(p + 1, end);
    return 0;
}

/* Any JSON value at p (after whitespace); returns the byte after it or NULL. */
static Ptr skip_value(Ptr p, Ptr end, int depth) {
    if (p >= end) return NULL;
    switch (*p) {
        case '"': return scan_string(p, end, NULL);
        case 't': return scan_literal(p, end, "true", 4);
        case 'f': return scan_literal(p, end, "false", 5);
        case 'n': return scan_literal(p, end, "null", 4);
        case '{': {
            if (depth >= MAX_DEPTH) return NULL;
            p = skip_ws(p + 1, end);
            if (p < end && *p == '}') return p + 1;
            for (;;) {
                if (p >= end || *p != '"') return NULL;
                p = scan_string(p, end, NULL);
                if (p == NULL) return NULL;
                p = skip_ws(p, end);
                if (p >= end || *p != ':') return NULL;
                p = skip_ws(p + 1, end);
                p = skip_value(p, end, depth + 1);
                if (p == NULL) return NULL;
                int closed = next_item(&p, end, '}');
                if (closed < 0) return NULL;
                if (closed) return p;
            }
        }
        case '[': {
            if (depth >= MAX_DEPTH) return NULL;
            p = skip_ws(p + 1, end);
            if (p < end && *p == ']') return p + 1;
            for (;;) {
                p = skip_value(p, end, depth + 1);
                if (p == NULL) return NULL;
                int closed = next_item(&p, end, ']');
                if (closed < 0) return NULL;
                if (closed) return p;
            }
        }
        default:
            if (*p == '-' || (*p >= '0' && *p <= '9')) return scan_number(p, end);
            return NULL;
    }
}

/* ---- the builder ---------------------------------------------------------------------- */

enum Kind { K_TEXT = 1, K_BOOL = 2, K_RAW = 3, K_RESOURCES = 4 };

typedef struct {
    const char *name; /* UTF-8, owned by the names tuple */
    Py_ssize_t len;
    int kind;
    int col; /* index among the columns of its kind */
} Field;

/* A field's value within the record being read. */
typedef struct {
    Ptr start, end; /* text: string body; raw: the value's bytes */
    int state;      /* 0 absent, 1 null, 2 value (bool: 2 false, 3 true) */
    int escaped;
} Seen;

#define N_RES_FIELDS 3

typedef struct {
    PyObject_HEAD
    PyObject *names; /* the field names given to __init__, kept alive (fields point into them) */
    int ready;       /* __init__ completed */
    Field fields[MAX_FIELDS];
    int n_fields, n_text, n_bool, n_raw;
    int time_field; /* index in fields of the field that must hold text (eventTime) */
    const char *res_names[N_RES_FIELDS];
    Py_ssize_t res_lens[N_RES_FIELDS];
    StrCol *text;  /* n_text columns */
    Buf *bools;    /* n_bool columns, one byte a row: 0 null, 1 false, 2 true */
    StrCol *raw;   /* n_raw columns ("" where absent, validity unused) */
    Buf res_offsets; /* int64, rows + 1 */
    Buf res_valid;   /* one byte a row */
    StrCol res[N_RES_FIELDS];
    int64_t rows;
    int64_t res_items;
    Seen seen[MAX_FIELDS];
    /* the field that followed each field (and, at n_fields, began a record) last time:
     * records of one trail list their fields in much the same order */
    int next_guess[MAX_FIELDS + 1];
} Builder;

static void builder_free_columns(Builder *b) {
    if (b->text) for (int i = 0; i < b->n_text; i++) strcol_free(&b->text[i]);
    if (b->raw) for (int i = 0; i < b->n_raw; i++) strcol_free(&b->raw[i]);
    if (b->bools) for (int i = 0; i < b->n_bool; i++) buf_free(&b->bools[i]);
    PyMem_Free(b->text);
    PyMem_Free(b->raw);
    PyMem_Free(b->bools);
    b->text = NULL;
    b->raw = NULL;
    b->bools = NULL;
    buf_free(&b->res_offsets);
    buf_free(&b->res_valid);
    for (int i = 0; i < N_RES_FIELDS; i++) strcol_free(&b->res[i]);
}

static int builder_start_columns(Builder *b) {
    for (int i = 0; i < b->n_text; i++)
        if (strcol_init(&b->text[i]) < 0) return -1;
    for (int i = 0; i < b->n_raw; i++)
        if (strcol_init(&b->raw[i]) < 0) return -1;
    for (int i = 0; i < b->n_bool; i++) memset(&b->bools[i], 0, sizeof(Buf));
    memset(&b->res_offsets, 0, sizeof(Buf));
    memset(&b->res_valid, 0, sizeof(Buf));
    if (buf_i64(&b->res_offsets, 0) < 0) return -1;
    for (int i = 0; i < N_RES_FIELDS; i++)
        if (strcol_init(&b->res[i]) < 0) return -1;
    b->rows = 0;
    b->res_items = 0;
    return 0;
}

static void Builder_dealloc(Builder *self) {
    builder_free_columns(self);
    Py_XDECREF(self->names);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int add_names(Builder *b, PyObject *seq, int kind, int *count) {
    if (!PyTuple_Check(seq)) {
        PyErr_SetString(PyExc_TypeError, "field names must be a tuple of str");
        return -1;
    }
    *count = 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(seq); i++) {
        PyObject *s = PyTuple_GET_ITEM(seq, i);
        Py_ssize_t n;
        const char *name = PyUnicode_Check(s) ? PyUnicode_AsUTF8AndSize(s, &n) : NULL;
        if (name == NULL) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "field names must be str");
            return -1;
        }
        if (b->n_fields >= MAX_FIELDS) {
            PyErr_SetString(PyExc_ValueError, "too many fields");
            return -1;
        }
        Field *f = &b->fields[b->n_fields++];
        f->name = name;
        f->len = n;
        f->kind = kind;
        f->col = (*count)++;
    }
    return 0;
}

/* Builder(text_fields, bool_fields, raw_fields, resources_field, resource_fields, time_field) */
static int Builder_init(Builder *self, PyObject *args, PyObject *kwds) {
    PyObject *text, *bools, *raw, *res_fields;
    PyObject *res_name, *time_name;
    static char *kwlist[] = {"text", "bools", "raw", "resources", "resource_fields", "time", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!O!O!UO!U", kwlist, &PyTuple_Type, &text,
                                     &PyTuple_Type, &bools, &PyTuple_Type, &raw, &res_name,
                                     &PyTuple_Type, &res_fields, &time_name))
        return -1;
    if (self->names != NULL || self->ready) {
        PyErr_SetString(PyExc_RuntimeError, "Builder is already initialised");
        return -1;
    }
    if (PyTuple_GET_SIZE(res_fields) != N_RES_FIELDS) {
        PyErr_SetString(PyExc_ValueError, "resource_fields must name three fields");
        return -1;
    }
    self->names = Py_BuildValue("(OOOOOO)", text, bools, raw, res_name, res_fields, time_name);
    if (self->names == NULL) return -1;
    self->n_fields = 0;
    if (add_names(self, text, K_TEXT, &self->n_text) < 0) return -1;
    if (add_names(self, bools, K_BOOL, &self->n_bool) < 0) return -1;
    if (add_names(self, raw, K_RAW, &self->n_raw) < 0) return -1;
    PyObject *one = PyTuple_Pack(1, res_name);
    if (one == NULL) return -1;
    int n_res;
    int rc = add_names(self, one, K_RESOURCES, &n_res);
    Py_DECREF(one); /* the name lives on in self->names */
    if (rc < 0) return -1;
    for (int i = 0; i < N_RES_FIELDS; i++) {
        PyObject *s = PyTuple_GET_ITEM(res_fields, i);
        self->res_names[i] = PyUnicode_Check(s) ? PyUnicode_AsUTF8AndSize(s, &self->res_lens[i])
                                                : NULL;
        if (self->res_names[i] == NULL) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "field names must be str");
            return -1;
        }
    }
    Py_ssize_t tlen;
    const char *tname = PyUnicode_AsUTF8AndSize(time_name, &tlen);
    if (tname == NULL) return -1;
    self->time_field = -1;
    for (int i = 0; i < self->n_fields; i++)
        if (self->fields[i].kind == K_TEXT && self->fields[i].len == tlen &&
            memcmp(self->fields[i].name, tname, (size_t)tlen) == 0)
            self->time_field = i;
    if (self->time_field < 0) {
        PyErr_SetString(PyExc_ValueError, "the time field must be one of the text fields");
        return -1;
    }
    for (int i = 0; i <= MAX_FIELDS; i++) self->next_guess[i] = -1;
    self->text = PyMem_Calloc((size_t)self->n_text + 1, sizeof(StrCol));
    self->raw = PyMem_Calloc((size_t)self->n_raw + 1, sizeof(StrCol));
    self->bools = PyMem_Calloc((size_t)self->n_bool + 1, sizeof(Buf));
    if (!self->text || !self->raw || !self->bools || builder_start_columns(self) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    self->ready = 1;
    return 0;
}

static inline int find_field(Builder *b, int prev, Ptr name, size_t len) {
    int g = b->next_guess[prev];
    if (g >= 0 && (size_t)b->fields[g].len == len && memcmp(b->fields[g].name, name, len) == 0)
        return g;
    for (int i = 0; i < b->n_fields; i++) {
        const Field *f = &b->fields[i];
        if ((size_t)f->len == len && memcmp(f->name, name, len) == 0) {
            b->next_guess[prev] = i;
            return i;
        }
    }
    return -1;
}

/* Outcome codes of the readers below. */
#define OK 0
#define REJECT 1  /* not for this reader: the file goes the ordinary way */
#define NOMEM 2
#define REPEATED 3 /* a key given twice (in a record, or "Records"): declined, and said so */

/* One resource object {"ARN": ..., "accountId": ..., "type": ...} appended to res columns. */
static int read_resource(Builder *b, Ptr *pp, Ptr end) {
    Ptr p = *pp;
    Ptr starts[N_RES_FIELDS] = {NULL, NULL, NULL}, ends[N_RES_FIELDS] = {NULL, NULL, NULL};
    int state[N_RES_FIELDS] = {0, 0, 0}, esc[N_RES_FIELDS] = {0, 0, 0};
    if (p >= end || *p != '{') return REJECT;
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}') {
        p++;
    } else {
        for (;;) {
            if (p >= end || *p != '"') return REJECT;
            int kesc;
            Ptr k = p + 1, after = scan_string(p, end, &kesc);
            if (after == NULL || kesc) return REJECT;
            size_t klen = (size_t)(after - 1 - k);
            int which = -1;
            for (int i = 0; i < N_RES_FIELDS; i++)
                if ((size_t)b->res_lens[i] == klen && memcmp(b->res_names[i], k, klen) == 0)
                    which = i;
            if (which < 0 || state[which]) return REJECT;
            p = skip_ws(after, end);
            if (p >= end || *p != ':') return REJECT;
            p = skip_ws(p + 1, end);
            if (p < end && *p == '"') {
                Ptr v = scan_string(p, end, &esc[which]);
                if (v == NULL) return REJECT;
                starts[which] = p + 1;
                ends[which] = v - 1;
                state[which] = 2;
                p = v;
            } else if ((p = scan_literal(p, end, "null", 4)) != NULL) {
                state[which] = 1;
            } else {
                return REJECT;
            }
            int closed = next_item(&p, end, '}');
            if (closed < 0) return REJECT;
            if (closed) break;
        }
    }
    for (int i = 0; i < N_RES_FIELDS; i++) {
        StrCol *c = &b->res[i];
        if (state[i] == 2) {
            int rc = esc[i] ? unescape_into(&c->data, starts[i], ends[i])
                            : buf_put(&c->data, starts[i], (size_t)(ends[i] - starts[i]));
            if (rc < 0) return NOMEM;
        }
        if (strcol_end_value(c, state[i] == 2) < 0) return NOMEM;
    }
    b->res_items++;
    *pp = p;
    return OK;
}

/* The resources value at *pp: null or a list of resource objects. Sets *present. */
static int read_resources(Builder *b, Ptr *pp, Ptr end, int *present) {
    Ptr p = *pp;
    Ptr after_null = scan_literal(p, end, "null", 4);
    if (after_null != NULL) {
        *present = 0;
        *pp = after_null;
        return OK;
    }
    if (p >= end || *p != '[') return REJECT;
    *present = 1;
    p = skip_ws(p + 1, end);
    if (p < end && *p == ']') {
        *pp = p + 1;
        return OK;
    }
    for (;;) {
        int rc = read_resource(b, &p, end);
        if (rc != OK) return rc;
        int closed = next_item(&p, end, ']');
        if (closed < 0) return REJECT;
        if (closed) {
            *pp = p;
            return OK;
        }
    }
}

/* One record object at *pp appended as a row. */
static int read_record(Builder *b, Ptr *pp, Ptr end) {
    Ptr p = *pp;
    Seen *seen = b->seen;
    int res_present = 0, prev = b->n_fields;
    memset(seen, 0, sizeof(Seen) * (size_t)b->n_fields);
    if (p >= end || *p != '{') return REJECT;
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}') return REJECT; /* no eventTime */
    for (;;) {
        if (p >= end || *p != '"') return REJECT;
        int kesc;
        Ptr k = p + 1, after = scan_string(p, end, &kesc);
        if (after == NULL || kesc) return REJECT;
        int i = find_field(b, prev, k, (size_t)(after - 1 - k));
        if (i < 0) return REJECT; /* a field this table does not know: the ordinary reader */
        prev = i;
        Field *f = &b->fields[i];
        Seen *s = &seen[i];
        if (s->state) return REPEATED; /* the reference reader reports it */
        p = skip_ws(after, end);
        if (p >= end || *p != ':') return REJECT;
        p = skip_ws(p + 1, end);
        if (p >= end) return REJECT;
        switch (f->kind) {
            case K_TEXT:
                if (*p == '"') {
                    Ptr v = scan_string(p, end, &s->escaped);
                    if (v == NULL) return REJECT;
                    s->start = p + 1;
                    s->end = v - 1;
                    s->state = 2;
                    p = v;
                } else if ((p = scan_literal(p, end, "null", 4)) != NULL) {
                    s->state = 1;
                } else {
                    return REJECT;
                }
                break;
            case K_BOOL: {
                Ptr v;
                if ((v = scan_literal(p, end, "true", 4)) != NULL) s->state = 3;
                else if ((v = scan_literal(p, end, "false", 5)) != NULL) s->state = 2;
                else if ((v = scan_literal(p, end, "null", 4)) != NULL) s->state = 1;
                else return REJECT;
                p = v;
                break;
            }
            case K_RAW: {
                Ptr v = skip_value(p, end, 1);
                if (v == NULL) return REJECT;
                s->start = p;
                s->end = v;
                s->state = 2;
                p = v;
                break;
            }
            case K_RESOURCES: {
                int rc = read_resources(b, &p, end, &res_present);
                if (rc != OK) return rc;
                s->state = 2;
                break;
            }
        }
        int closed = next_item(&p, end, '}');
        if (closed < 0) return REJECT;
        if (closed) break;
    }
    if (seen[b->time_field].state != 2) return REJECT; /* eventTime missing or null */
    for (int i = 0; i < b->n_fields; i++) {
        Field *f = &b->fields[i];
        Seen *s = &seen[i];
        switch (f->kind) {
            case K_TEXT: {
                StrCol *c = &b->text[f->col];
                if (s->state == 2) {
                    int rc = s->escaped
                                 ? unescape_into(&c->data, s->start, s->end)
                                 : buf_put(&c->data, s->start, (size_t)(s->end - s->start));
                    if (rc < 0) return NOMEM;
                }
                if (strcol_end_value(c, s->state == 2) < 0) return NOMEM;
                break;
            }
            case K_BOOL:
                if (buf_u8(&b->bools[f->col], (uint8_t)(s->state ? s->state - 1 : 0)) < 0)
                    return NOMEM;
                break;
            case K_RAW: {
                StrCol *c = &b->raw[f->col];
                if (s->state == 2 && buf_put(&c->data, s->start, (size_t)(s->end - s->start)) < 0)
                    return NOMEM;
                if (strcol_end_value(c, 1) < 0) return NOMEM;
                break;
            }
            case K_RESOURCES:
                if (buf_i64(&b->res_offsets, b->res_items) < 0) return NOMEM;
                if (buf_u8(&b->res_valid, (uint8_t)res_present) < 0) return NOMEM;
                break;
        }
    }
    b->rows++;
    *pp = p;
    return OK;
}

typedef struct {
    StrMark text[MAX_FIELDS], raw[MAX_FIELDS], res[N_RES_FIELDS];
    size_t bools[MAX_FIELDS], res_offsets, res_valid;
    int64_t rows, res_items;
} Mark;

static void builder_mark(const Builder *b, Mark *m) {
    for (int i = 0; i < b->n_text; i++) m->text[i] = strcol_mark(&b->text[i]);
    for (int i = 0; i < b->n_raw; i++) m->raw[i] = strcol_mark(&b->raw[i]);
    for (int i = 0; i < b->n_bool; i++) m->bools[i] = b->bools[i].len;
    for (int i = 0; i < N_RES_FIELDS; i++) m->res[i] = strcol_mark(&b->res[i]);
    m->res_offsets = b->res_offsets.len;
    m->res_valid = b->res_valid.len;
    m->rows = b->rows;
    m->res_items = b->res_items;
}

static void builder_reset_to(Builder *b, const Mark *m) {
    for (int i = 0; i < b->n_text; i++) strcol_reset_to(&b->text[i], m->text[i]);
    for (int i = 0; i < b->n_raw; i++) strcol_reset_to(&b->raw[i], m->raw[i]);
    for (int i = 0; i < b->n_bool; i++) b->bools[i].len = m->bools[i];
    for (int i = 0; i < N_RES_FIELDS; i++) strcol_reset_to(&b->res[i], m->res[i]);
    b->res_offsets.len = m->res_offsets;
    b->res_valid.len = m->res_valid;
    b->rows = m->rows;
    b->res_items = m->res_items;
}

static const char RECORDS_KEY[] = "\"Records\"";

/* The records of one file; OK, REJECT or NOMEM (the builder is rolled back on the last two). */
static int read_file_records(Builder *b, Ptr p, Ptr end, Py_ssize_t *count) {
    int64_t before = b->rows;
    p = skip_ws(p, end);
    if (p >= end || *p != '{') return REJECT;
    p = skip_ws(p + 1, end);
    if ((size_t)(end - p) < sizeof RECORDS_KEY - 1 ||
        memcmp(p, RECORDS_KEY, sizeof RECORDS_KEY - 1) != 0)
        return REJECT;
    p = skip_ws(p + sizeof RECORDS_KEY - 1, end);
    if (p >= end || *p != ':') return REJECT;
    p = skip_ws(p + 1, end);
    if (p >= end || *p != '[') return REJECT;
    p = skip_ws(p + 1, end);
    if (p < end && *p == ']') {
        p++;
    } else {
        for (;;) {
            int rc = read_record(b, &p, end);
            if (rc != OK) return rc;
            int closed = next_item(&p, end, ']');
            if (closed < 0) return REJECT;
            if (closed) break;
        }
    }
    p = skip_ws(p, end);
    if (p < end && *p == ',') { /* another top-level field: a second "Records" is reported */
        Ptr q = skip_ws(p + 1, end);
        if ((size_t)(end - q) >= sizeof RECORDS_KEY - 1 &&
            memcmp(q, RECORDS_KEY, sizeof RECORDS_KEY - 1) == 0)
            return REPEATED;
    }
    if (p >= end || *p != '}') return REJECT; /* another top-level field: the ordinary way */
    p = skip_ws(p + 1, end);
    if (p != end) return REJECT;
    *count = (Py_ssize_t)(b->rows - before);
    return OK;
}

static PyObject *Builder_add(Builder *self, PyObject *arg) {
    if (!self->ready) {
        PyErr_SetString(PyExc_RuntimeError, "Builder is not initialised");
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    Mark *mark = PyMem_Malloc(sizeof(Mark));
    if (mark == NULL) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    builder_mark(self, mark);
    Py_ssize_t count = 0;
    Ptr p = (Ptr)view.buf;
    int rc = read_file_records(self, p, p + view.len, &count);
    if (rc != OK) builder_reset_to(self, mark);
    PyMem_Free(mark);
    PyBuffer_Release(&view);
    if (rc == NOMEM) return PyErr_NoMemory();
    /* -1: declined; -2: declined because a key is repeated (the caller reports it) */
    return PyLong_FromSsize_t(rc == OK ? count : (rc == REPEATED ? -2 : -1));
}

/* ---- handing the columns over --------------------------------------------------------- */

static PyObject *bytes_of(const Buf *b) {
    return PyBytes_FromStringAndSize(b->len ? b->p : "", (Py_ssize_t)b->len);
}

/* Arrow bitmap (LSB first) of one byte a row: bit i set where flags[i] >= at_least; *set
 * counts the bits set. */
static PyObject *bitmap_of(const Buf *flags, uint8_t at_least, int64_t *set) {
    size_t n = flags->len;
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)((n + 7) / 8));
    if (out == NULL) return NULL;
    unsigned char *bits = (unsigned char *)PyBytes_AS_STRING(out);
    memset(bits, 0, (n + 7) / 8);
    const unsigned char *f = (const unsigned char *)flags->p;
    int64_t count = 0;
    for (size_t i = 0; i < n; i++)
        if (f[i] >= at_least) {
            bits[i >> 3] |= (unsigned char)(1u << (i & 7));
            count++;
        }
    *set = count;
    return out;
}

/* (offsets, data, validity or None, null count) of a string column */
static PyObject *strcol_out(const StrCol *c, int with_validity) {
    int64_t valid = 0;
    PyObject *bitmap;
    size_t n = c->valid.len;
    if (with_validity) {
        bitmap = bitmap_of(&c->valid, 1, &valid);
        if (bitmap == NULL) return NULL;
    } else {
        bitmap = Py_NewRef(Py_None);
        valid = (int64_t)n;
    }
    return Py_BuildValue("(NNNL)", bytes_of(&c->offsets), bytes_of(&c->data), bitmap,
                         (long long)((int64_t)n - valid));
}

/* finish() -> (rows, texts, bools, raws, resources) as Arrow-layout buffers; starts anew. */
static PyObject *Builder_finish(Builder *self, PyObject *Py_UNUSED(ignored)) {
    if (!self->ready) {
        PyErr_SetString(PyExc_RuntimeError, "Builder is not initialised");
        return NULL;
    }
    PyObject *texts = PyTuple_New(self->n_text), *raws = PyTuple_New(self->n_raw);
    PyObject *bools = PyTuple_New(self->n_bool), *result = NULL, *res = NULL;
    if (!texts || !raws || !bools) goto done;
    for (int i = 0; i < self->n_text; i++) {
        PyObject *t = strcol_out(&self->text[i], 1);
        if (t == NULL) goto done;
        PyTuple_SET_ITEM(texts, i, t);
    }
    for (int i = 0; i < self->n_raw; i++) {
        PyObject *t = strcol_out(&self->raw[i], 0);
        if (t == NULL) goto done;
        PyTuple_SET_ITEM(raws, i, t);
    }
    for (int i = 0; i < self->n_bool; i++) {
        /* stored as 0 null, 1 false, 2 true: valid where >= 1, true where >= 2 */
        Buf *f = &self->bools[i];
        int64_t n_valid = 0, n_true = 0;
        PyObject *vbits = bitmap_of(f, 1, &n_valid);
        PyObject *tbits = vbits ? bitmap_of(f, 2, &n_true) : NULL;
        if (tbits == NULL) { Py_XDECREF(vbits); goto done; }
        PyObject *t = Py_BuildValue("(NNL)", tbits, vbits, (long long)((int64_t)f->len - n_valid));
        if (t == NULL) goto done;
        PyTuple_SET_ITEM(bools, i, t);
    }
    {
        int64_t n_valid = 0;
        PyObject *lbits = bitmap_of(&self->res_valid, 1, &n_valid);
        if (lbits == NULL) goto done;
        PyObject *a = strcol_out(&self->res[0], 1), *b2 = a ? strcol_out(&self->res[1], 1) : NULL;
        PyObject *c = b2 ? strcol_out(&self->res[2], 1) : NULL;
        if (c == NULL) {
            Py_DECREF(lbits);
            Py_XDECREF(a);
            Py_XDECREF(b2);
            goto done;
        }
        res = Py_BuildValue("(NNLLNNN)", bytes_of(&self->res_offsets), lbits,
                            (long long)((int64_t)self->res_valid.len - n_valid),
                            (long long)self->res_items, a, b2, c);
        if (res == NULL) goto done;
    }
    result = Py_BuildValue("(LOOOO)", (long long)self->rows, texts, bools, raws, res);
    if (result != NULL) {
        /* a new batch: keep the memory, drop the contents */
        Mark zero;
        memset(&zero, 0, sizeof zero);
        for (int i = 0; i < self->n_text; i++) zero.text[i].offsets = sizeof(int64_t);
        for (int i = 0; i < self->n_raw; i++) zero.raw[i].offsets = sizeof(int64_t);
        for (int i = 0; i < N_RES_FIELDS; i++) zero.res[i].offsets = sizeof(int64_t);
        zero.res_offsets = sizeof(int64_t);
        builder_reset_to(self, &zero);
    }
done:
    Py_XDECREF(texts);
    Py_XDECREF(raws);
    Py_XDECREF(bools);
    Py_XDECREF(res);
    return result;
}

static PyObject *Builder_rows(Builder *self, void *Py_UNUSED(closure)) {
    return PyLong_FromLongLong((long long)self->rows);
}

static PyMethodDef Builder_methods[] = {
    {"add", (PyCFunction)Builder_add, METH_O,
     "add(data) -> records appended from one file, or -1 (nothing appended) if this reader "
     "does not accept the file."},
    {"finish", (PyCFunction)Builder_finish, METH_NOARGS,
     "finish() -> (rows, texts, bools, raws, resources) as Arrow-layout buffers; the builder "
     "starts a new batch."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Builder_getset[] = {
    {"rows", (getter)Builder_rows, NULL, "rows in the current batch", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject BuilderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "forensics._records_c.Builder",
    .tp_basicsize = sizeof(Builder),
    .tp_dealloc = (destructor)Builder_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Column buffers filled from CloudTrail Records files (see the module docstring).",
    .tp_methods = Builder_methods,
    .tp_getset = Builder_getset,
    .tp_init = (initproc)Builder_init,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef records_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "forensics._records_c",
    .m_doc = "CloudTrail Records files straight into column buffers (optional accelerator).",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__records_c(void) {
    if (PyType_Ready(&BuilderType) < 0) return NULL;
    PyObject *m = PyModule_Create(&records_module);
    if (m == NULL) return NULL;
    if (PyModule_AddObjectRef(m, "Builder", (PyObject *)&BuilderType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
