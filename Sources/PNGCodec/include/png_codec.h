#ifndef VAELAB_PNG_CODEC_H
#define VAELAB_PNG_CODEC_H
// A small setjmp-safe layer over libpng's full API: libpng reports errors by longjmp, which
// Swift cannot catch, so every libpng call happens here and errors come back as a message.
#include <stddef.h>
#include <stdint.h>

/// A key/value pair for a PNG tEXt chunk (Latin-1 key of 1-79 bytes).
typedef struct {
    const char *key;
    const char *text;
} vaelab_png_text;

/// Encodes 8-bit pixels (channels 1 = gray, 3 = RGB, 4 = RGBA; rows top to bottom, tightly
/// packed) as PNG in memory. On success returns 0 and sets *out / *out_size (free with
/// vaelab_png_free); on failure returns -1 and writes a message into error (error_size bytes).
int vaelab_png_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int channels,
                      const vaelab_png_text *texts, int text_count,
                      uint8_t **out, size_t *out_size, char *error, size_t error_size);

/// A decoded image: 8-bit pixels with `channels` (1, 2, 3 or 4) per pixel, and its text chunks.
typedef struct {
    uint32_t width, height;
    int channels;
    uint8_t *pixels;
    int text_count;
    char **keys;
    char **texts;
} vaelab_png_image;

/// Decodes a PNG from memory to 8-bit pixels (palette expanded, 16-bit stripped, no gamma
/// change). Returns 0, or -1 with a message in error.
int vaelab_png_decode(const uint8_t *data, size_t size, vaelab_png_image *image, char *error, size_t error_size);

void vaelab_png_image_free(vaelab_png_image *image);
void vaelab_png_free(uint8_t *buffer);

#endif
