#ifndef VAELAB_CFUZZDRIVER_H
#define VAELAB_CFUZZDRIVER_H
// libFuzzer's entry point for programs that have their own main. SwiftPM links each executable
// with `main` aliased to `<module>_main`, so the targets define that and hand over to libFuzzer.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
