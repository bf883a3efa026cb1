/* Just enough of the Arduino API to type-check jepa_bridge.ino on the host (make sketch-check).
 * Not an emulator: nothing here runs. */
#ifndef ARDUINO_STUB_H
#define ARDUINO_STUB_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define HIGH 1
#define LOW 0
#define OUTPUT 1
#define A0 14

void pinMode(uint8_t pin, uint8_t mode);
void digitalWrite(uint8_t pin, uint8_t value);
void analogWrite(uint8_t pin, int value);
int analogRead(uint8_t pin);
unsigned long micros(void);
unsigned long millis(void);

class HardwareSerial {
 public:
  void begin(unsigned long baud);
  int available(void);
  int availableForWrite(void);
  int read(void);
  size_t write(const uint8_t *data, size_t len);
};
extern HardwareSerial Serial;
#endif
