// The emulators: how each is launched and chosen (engine-launch.ts), and their processes (engine-process.ts).
export {
  chooseEngines,
  type DynamoEngine,
  type EngineChoice,
  type KinesisEngine,
  SERVICES,
  type ServiceName,
} from './engine-launch';
export { Engine } from './engine-process';
