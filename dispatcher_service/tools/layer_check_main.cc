// The entry point of the dispatcher's layer checks (dispatcher_service/CMakeLists.txt): each links
// every object of one layer with that layer's own dependencies and nothing above it, so a call
// that reaches up a layer is an undefined symbol at build time. Never run.
int main() { return 0; }
