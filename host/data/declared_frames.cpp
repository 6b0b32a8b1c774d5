#include "data/declared_frames.hpp"

#include <unistd.h>

#include <cstring>

namespace distill::data {
namespace {

// A header is a handful of chunks; stop walking after this many.
constexpr int kMaxChunks = 64;

bool read_at(int fd, int64_t offset, unsigned char* dst, size_t n) {
    return ::pread(fd, dst, n, static_cast<off_t>(offset)) == static_cast<ssize_t>(n);
}

uint32_t le32(const unsigned char* p) {
    return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}
uint16_t le16(const unsigned char* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
uint32_t be32(const unsigned char* p) {
    return uint32_t{p[3]} | uint32_t{p[2]} << 8 | uint32_t{p[1]} << 16 | uint32_t{p[0]} << 24;
}

int64_t wav_frames(int fd) {
    int64_t offset = 12;
    uint16_t block_align = 0;
    for (int i = 0; i < kMaxChunks; ++i) {
        unsigned char head[8];
        if (!read_at(fd, offset, head, sizeof head)) return -1;
        const uint32_t size = le32(head + 4);
        if (std::memcmp(head, "fmt ", 4) == 0) {
            unsigned char fmt[16];
            if (size < sizeof fmt || !read_at(fd, offset + 8, fmt, sizeof fmt)) return -1;
            block_align = le16(fmt + 12);
        } else if (std::memcmp(head, "data", 4) == 0) {
            // Streaming writers leave 0 or 0xFFFFFFFF when they do not know.
            if (block_align == 0 || size == 0 || size == 0xFFFFFFFFu) return -1;
            return size / block_align;
        }
        offset += 8 + int64_t{size} + (size & 1);  // chunks are word-aligned
    }
    return -1;
}

int64_t aiff_frames(int fd) {
    int64_t offset = 12;
    for (int i = 0; i < kMaxChunks; ++i) {
        unsigned char head[8];
        if (!read_at(fd, offset, head, sizeof head)) return -1;
        const uint32_t size = be32(head + 4);
        if (std::memcmp(head, "COMM", 4) == 0) {
            unsigned char comm[6];  // channels (2 bytes), frames (4 bytes)
            if (size < sizeof comm || !read_at(fd, offset + 8, comm, sizeof comm)) return -1;
            return be32(comm + 2);
        }
        offset += 8 + int64_t{size} + (size & 1);
    }
    return -1;
}

}  // namespace

int64_t declared_frames(int fd) {
    unsigned char magic[12];
    if (!read_at(fd, 0, magic, sizeof magic)) return -1;
    if (std::memcmp(magic, "RIFF", 4) == 0 && std::memcmp(magic + 8, "WAVE", 4) == 0) return wav_frames(fd);
    if (std::memcmp(magic, "FORM", 4) == 0 &&
        (std::memcmp(magic + 8, "AIFF", 4) == 0 || std::memcmp(magic + 8, "AIFC", 4) == 0))
        return aiff_frames(fd);
    return -1;
}

}  // namespace distill::data
