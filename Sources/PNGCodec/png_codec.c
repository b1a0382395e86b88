#include "png_codec.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *message;
    size_t size;
} error_sink;

static void on_error(png_structp png, png_const_charp message) {
    error_sink *sink = (error_sink *)png_get_error_ptr(png);
    if (sink && sink->message && sink->size) snprintf(sink->message, sink->size, "%s", message);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp message) {
    (void)png;
    (void)message;
}

typedef struct {
    uint8_t *data;
    size_t size, capacity;
    int failed;
} memory_writer;

static void write_bytes(png_structp png, png_bytep bytes, png_size_t length) {
    memory_writer *w = (memory_writer *)png_get_io_ptr(png);
    if (w->size + length > w->capacity) {
        size_t capacity = w->capacity ? w->capacity : 65536;
        while (capacity < w->size + length) capacity *= 2;
        uint8_t *grown = (uint8_t *)realloc(w->data, capacity);
        if (!grown) png_error(png, "out of memory while encoding PNG");
        w->data = grown;
        w->capacity = capacity;
    }
    memcpy(w->data + w->size, bytes, length);
    w->size += length;
}

static void flush_bytes(png_structp png) { (void)png; }

int vaelab_png_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int channels,
                      const vaelab_png_text *texts, int text_count,
                      uint8_t **out, size_t *out_size, char *error, size_t error_size) {
    error_sink sink = {error, error_size};
    if (error && error_size) error[0] = 0;
    int color;
    switch (channels) {
    case 1: color = PNG_COLOR_TYPE_GRAY; break;
    case 3: color = PNG_COLOR_TYPE_RGB; break;
    case 4: color = PNG_COLOR_TYPE_RGBA; break;
    default:
        snprintf(error, error_size, "unsupported channel count %d (expected 1, 3 or 4)", channels);
        return -1;
    }
    if (width == 0 || height == 0 || width > 1000000 || height > 1000000) {
        snprintf(error, error_size, "invalid image size %ux%u", width, height);
        return -1;
    }
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &sink, on_error, on_warning);
    if (!png) { snprintf(error, error_size, "png_create_write_struct failed"); return -1; }
    png_infop info = png_create_info_struct(png);
    memory_writer writer = {0};
    png_textp volatile chunks = NULL;  /* volatile: read after a longjmp */
    png_bytep *volatile rows = NULL;
    if (!info || setjmp(png_jmpbuf(png))) {
        if (!info) snprintf(error, error_size, "png_create_info_struct failed");
        png_destroy_write_struct(&png, info ? &info : NULL);
        free(writer.data);
        free(chunks);
        free(rows);
        return -1;
    }
    png_set_write_fn(png, &writer, write_bytes, flush_bytes);
    png_set_compression_level(png, 9);
    png_set_IHDR(png, info, width, height, 8, color, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (text_count > 0) {
        chunks = (png_textp)calloc((size_t)text_count, sizeof(png_text));
        if (!chunks) png_error(png, "out of memory");
        for (int i = 0; i < text_count; i++) {
            chunks[i].compression = PNG_TEXT_COMPRESSION_NONE;
            chunks[i].key = (png_charp)texts[i].key;
            chunks[i].text = (png_charp)texts[i].text;
            chunks[i].text_length = strlen(texts[i].text);
        }
        png_set_text(png, info, chunks, text_count);
    }
    png_write_info(png, info);
    rows = (png_bytep *)malloc(sizeof(png_bytep) * height);
    if (!rows) png_error(png, "out of memory");
    for (uint32_t y = 0; y < height; y++) rows[y] = (png_bytep)(pixels + (size_t)y * width * (size_t)channels);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(chunks);
    free(rows);
    *out = writer.data;
    *out_size = writer.size;
    return 0;
}

typedef struct {
    const uint8_t *data;
    size_t size, offset;
} memory_reader;

static void read_bytes(png_structp png, png_bytep bytes, png_size_t length) {
    memory_reader *r = (memory_reader *)png_get_io_ptr(png);
    if (length > r->size - r->offset) png_error(png, "truncated PNG data");
    memcpy(bytes, r->data + r->offset, length);
    r->offset += length;
}

int vaelab_png_decode(const uint8_t *data, size_t size, vaelab_png_image *image, char *error, size_t error_size) {
    error_sink sink = {error, error_size};
    if (error && error_size) error[0] = 0;
    memset(image, 0, sizeof(*image));
    if (size < 8 || png_sig_cmp((png_const_bytep)data, 0, 8) != 0) {
        snprintf(error, error_size, "not a PNG file (bad signature)");
        return -1;
    }
    /* Every chunk up to IEND must fit in the input: libpng allocates (and zeroes) an ancillary
       chunk's declared length before reading its data, so a 200-byte file declaring a 1.5 GB
       tEXt chunk cost 1.5 GB and seconds before failing as truncated. */
    for (size_t at = 8; at + 8 <= size;) {
        uint32_t length = (uint32_t)data[at] << 24 | (uint32_t)data[at + 1] << 16 | (uint32_t)data[at + 2] << 8 | data[at + 3];
        if ((uint64_t)length + 12 > (uint64_t)(size - at)) {
            snprintf(error, error_size, "truncated PNG data: a chunk declares %u bytes, the file has %zu left",
                     length, size - at - 8);
            return -1;
        }
        if (memcmp(data + at + 4, "IEND", 4) == 0) break;
        at += 12 + (size_t)length;
    }
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &sink, on_error, on_warning);
    if (!png) { snprintf(error, error_size, "png_create_read_struct failed"); return -1; }
    png_infop info = png_create_info_struct(png);
    memory_reader reader = {data, size, 0};
    png_bytep *volatile rows = NULL;  /* volatile: read after a longjmp */
    if (!info || setjmp(png_jmpbuf(png))) {
        if (!info) snprintf(error, error_size, "png_create_info_struct failed");
        png_destroy_read_struct(&png, info ? &info : NULL, NULL);
        free(rows);
        vaelab_png_image_free(image);
        return -1;
    }
    png_set_read_fn(png, &reader, read_bytes);
    png_set_user_limits(png, 16384, 16384);
    png_read_info(png, info);
    png_uint_32 width = png_get_image_width(png, info), height = png_get_image_height(png, info);
    int bit_depth = png_get_bit_depth(png, info), color = png_get_color_type(png, info);
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    if (bit_depth == 16) png_set_strip_16(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int channels = png_get_channels(png, info);
    size_t stride = png_get_rowbytes(png, info);
    if (stride != (size_t)width * (size_t)channels) png_error(png, "unexpected row size");
    /* Deflate expands at most 1032:1 and the conversions above widen a pixel at most 32 times
       (1-bit palette to RGBA), so a valid image never decodes to more than this; without the
       check a tiny file declaring 16384 x 16384 pixels would allocate 1 GiB before failing. */
    if ((uint64_t)stride * height > (uint64_t)size * 1032u * 32u + 65536u)
        png_error(png, "image size exceeds what the file's data can hold");
    image->pixels = (uint8_t *)malloc(stride * height);
    rows = (png_bytep *)malloc(sizeof(png_bytep) * height);
    if (!image->pixels || !rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < height; y++) rows[y] = image->pixels + (size_t)y * stride;
    png_read_image(png, rows);
    png_read_end(png, info);
    image->width = width;
    image->height = height;
    image->channels = channels;
    png_textp chunks = NULL;
    int count = 0;
    png_get_text(png, info, &chunks, &count);
    if (count > 0) {
        image->keys = (char **)calloc((size_t)count, sizeof(char *));
        image->texts = (char **)calloc((size_t)count, sizeof(char *));
        if (!image->keys || !image->texts) png_error(png, "out of memory");
        for (int i = 0; i < count; i++) {
            image->keys[i] = strdup(chunks[i].key ? chunks[i].key : "");
            image->texts[i] = strdup(chunks[i].text ? chunks[i].text : "");
            image->text_count = i + 1;
        }
    }
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    return 0;
}

void vaelab_png_image_free(vaelab_png_image *image) {
    if (!image) return;
    free(image->pixels);
    for (int i = 0; i < image->text_count; i++) {
        free(image->keys[i]);
        free(image->texts[i]);
    }
    free(image->keys);
    free(image->texts);
    memset(image, 0, sizeof(*image));
}

void vaelab_png_free(uint8_t *buffer) { free(buffer); }
