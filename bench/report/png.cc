#include "bench/report/png.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include <zlib.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace ferry::bench::report {
namespace {

constexpr char kSignature[] = "\x89PNG\r\n\x1a\n";

uint32_t Be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

void PutBe32(std::string& out, uint32_t v) {
  for (int shift : {24, 16, 8, 0}) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

int Paeth(int a, int b, int c) {
  int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

}  // namespace

absl::StatusOr<Image> DecodePng(absl::string_view bytes) {
  if (bytes.size() < 8 || std::memcmp(bytes.data(), kSignature, 8) != 0) {
    return absl::InvalidArgumentError("not a PNG: bad signature");
  }
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  size_t pos = 8;
  uint32_t width = 0, height = 0;
  int channels = 0;
  bool have_header = false;
  std::string idat;
  while (true) {
    if (pos + 12 > bytes.size()) return absl::InvalidArgumentError("PNG truncated (no IEND)");
    uint32_t length = Be32(data + pos);
    if (length > bytes.size() - pos - 12) return absl::InvalidArgumentError("PNG chunk too long");
    const unsigned char* type = data + pos + 4;
    const unsigned char* body = data + pos + 8;
    uint32_t crc = crc32(0, type, length + 4);
    if (crc != Be32(body + length)) {
      return absl::InvalidArgumentError(
          absl::StrCat("PNG chunk ", absl::string_view(reinterpret_cast<const char*>(type), 4),
                       " has a bad CRC"));
    }
    std::string name(reinterpret_cast<const char*>(type), 4);
    pos += 12 + length;
    if (name == "IHDR") {
      if (length != 13) return absl::InvalidArgumentError("PNG IHDR has the wrong length");
      width = Be32(body);
      height = Be32(body + 4);
      int depth = body[8], colour = body[9], interlace = body[12];
      if (depth != 8 || interlace != 0) {
        return absl::UnimplementedError(absl::StrCat("PNG bit depth ", depth, ", interlace ",
                                                     interlace, " not supported"));
      }
      switch (colour) {
        case 0: channels = 1; break;
        case 2: channels = 3; break;
        case 4: channels = 2; break;
        case 6: channels = 4; break;
        default:
          return absl::UnimplementedError(absl::StrCat("PNG colour type ", colour,
                                                       " not supported"));
      }
      if (width == 0 || height == 0 || width > 65536 || height > 65536) {
        return absl::InvalidArgumentError("PNG size out of range");
      }
      have_header = true;
    } else if (name == "IDAT") {
      idat.append(reinterpret_cast<const char*>(body), length);
    } else if (name == "IEND") {
      break;
    }
  }
  if (!have_header) return absl::InvalidArgumentError("PNG has no IHDR");

  size_t stride = static_cast<size_t>(width) * channels;
  uLongf raw_size = static_cast<uLongf>((stride + 1) * height);
  std::string raw(raw_size, '\0');
  int rc = uncompress(reinterpret_cast<Bytef*>(raw.data()), &raw_size,
                      reinterpret_cast<const Bytef*>(idat.data()), idat.size());
  if (rc != Z_OK || raw_size != raw.size()) {
    return absl::InvalidArgumentError(absl::StrCat("PNG image data does not inflate (zlib ", rc,
                                                   ", ", raw_size, " bytes)"));
  }

  // Undo the per-row filters in place, then widen to RGBA.
  auto* px = reinterpret_cast<unsigned char*>(raw.data());
  for (uint32_t y = 0; y < height; ++y) {
    unsigned char* row = px + y * (stride + 1);
    int filter = row[0];
    unsigned char* cur = row + 1;
    const unsigned char* prev = y > 0 ? px + (y - 1) * (stride + 1) + 1 : nullptr;
    for (size_t i = 0; i < stride; ++i) {
      int a = i >= static_cast<size_t>(channels) ? cur[i - channels] : 0;
      int b = prev ? prev[i] : 0;
      int c = prev && i >= static_cast<size_t>(channels) ? prev[i - channels] : 0;
      switch (filter) {
        case 0: break;
        case 1: cur[i] = static_cast<unsigned char>(cur[i] + a); break;
        case 2: cur[i] = static_cast<unsigned char>(cur[i] + b); break;
        case 3: cur[i] = static_cast<unsigned char>(cur[i] + (a + b) / 2); break;
        case 4: cur[i] = static_cast<unsigned char>(cur[i] + Paeth(a, b, c)); break;
        default:
          return absl::InvalidArgumentError(absl::StrCat("PNG row ", y, " has filter ", filter));
      }
    }
  }
  Image image;
  image.width = static_cast<int>(width);
  image.height = static_cast<int>(height);
  image.rgba.resize(static_cast<size_t>(width) * height * 4);
  for (uint32_t y = 0; y < height; ++y) {
    const unsigned char* row = px + y * (stride + 1) + 1;
    for (uint32_t x = 0; x < width; ++x) {
      const unsigned char* s = row + x * channels;
      uint8_t* d = &image.rgba[(static_cast<size_t>(y) * width + x) * 4];
      switch (channels) {
        case 1: d[0] = d[1] = d[2] = s[0]; d[3] = 255; break;
        case 2: d[0] = d[1] = d[2] = s[0]; d[3] = s[1]; break;
        case 3: d[0] = s[0]; d[1] = s[1]; d[2] = s[2]; d[3] = 255; break;
        default: std::memcpy(d, s, 4);
      }
    }
  }
  return image;
}

std::string EncodePng(const Image& image) {
  std::string raw;
  for (int y = 0; y < image.height; ++y) {
    raw.push_back('\0');
    raw.append(reinterpret_cast<const char*>(image.At(0, y)), static_cast<size_t>(image.width) * 4);
  }
  uLongf size = compressBound(raw.size());
  std::string z(size, '\0');
  compress(reinterpret_cast<Bytef*>(z.data()), &size, reinterpret_cast<const Bytef*>(raw.data()),
           raw.size());
  z.resize(size);
  std::string out(kSignature, 8);
  auto chunk = [&out](const char* type, const std::string& body) {
    PutBe32(out, static_cast<uint32_t>(body.size()));
    std::string typed = std::string(type, 4) + body;
    out += typed;
    PutBe32(out, crc32(0, reinterpret_cast<const Bytef*>(typed.data()), typed.size()));
  };
  std::string ihdr;
  PutBe32(ihdr, image.width);
  PutBe32(ihdr, image.height);
  ihdr += std::string("\x08\x06\x00\x00\x00", 5);
  chunk("IHDR", ihdr);
  chunk("IDAT", z);
  chunk("IEND", "");
  return out;
}

}  // namespace ferry::bench::report
